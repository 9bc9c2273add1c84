//! The gateway's config parser (`gateway_config::Config::from_str_with`).
//!
//! Input: the file text (non-UTF-8 inputs are skipped: the binary reads the file as a
//! `String` and fails before parsing). An optional `WEBHOOK_SECRET` default comes from a
//! first line `#secret=...`, so both the per-repo and the default secret paths run.
//!
//! Checks (as in tests/props.rs): no panic; every accepted repo name is valid; an invalid
//! file reports at least one problem, and every line number it names is a line of the file.
#![no_main]

// The checks tests/props.rs makes too, one copy for both.
#[path = "../../tests/checks/config.rs"]
mod config_checks;

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let overrides = gateway_config::Overrides {
        default_secret: text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("#secret="))
            .map(str::to_owned),
        ..gateway_config::Overrides::default()
    };
    let parsed = gateway_config::Config::from_str_with(text, Path::new("fuzz.toml"), &overrides);
    config_checks::check_parsed(text, parsed);
});
