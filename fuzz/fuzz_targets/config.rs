//! The config parser of the binary (`Config::from_str_with`), compiled into this target by
//! `#[path]` as tests/props.rs does, since `bins/context-gateway` has no library target.
//! `config.rs` calls `pipeline::valid_ref_name`, so the pipeline crate is a dependency.
//!
//! Input: the file text (non-UTF-8 inputs are skipped: the binary reads the file as a
//! `String` and fails before parsing). An optional `WEBHOOK_SECRET` default comes from a
//! first line `#secret=...`, so both the per-repo and the default secret paths run.
//!
//! Checks (as in tests/props.rs): no panic; every accepted repo name is valid; an invalid
//! file reports at least one problem, and every line number it names is a line of the file.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../bins/context-gateway/src/config.rs"]
mod config;

// The `[cluster]` section the config parser checks.
#[allow(dead_code, unused_imports)]
#[path = "../../bins/context-gateway/src/cluster.rs"]
mod cluster;

// The checks tests/props.rs makes too, one copy for both.
#[path = "../../tests/checks/config.rs"]
mod config_checks;

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let overrides = config::Overrides {
        default_secret: text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("#secret="))
            .map(str::to_owned),
        ..config::Overrides::default()
    };
    let parsed = config::Config::from_str_with(text, Path::new("fuzz.toml"), &overrides);
    config_checks::check_parsed(text, parsed);
});
