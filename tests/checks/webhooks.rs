//! Checks of webhook verification and parsing shared by tests/props.rs and the fuzz targets
//! in fuzz/ (each includes this file with `#[path]`), so both hold a delivery to the same
//! rules.

use webhook_core::{Event, ProviderId, Secret};

/// Every built-in provider, in the order the fuzz seeds pick them by.
pub const PROVIDER_IDS: [ProviderId; 5] = [
    ProviderId::AzureDevOps,
    ProviderId::Bitbucket,
    ProviderId::Gitea,
    ProviderId::GitHub,
    ProviderId::GitLab,
];

/// The secrets the fixtures of `provider` are signed with: GitLab's token and Standard
/// Webhooks key, Azure DevOps' Basic credentials, the shared HMAC secret of the others.
pub fn fixture_secrets(provider: ProviderId) -> Vec<Secret> {
    let secret = |text: &str| Secret::new(text).expect("not empty");
    match provider {
        ProviderId::GitLab => vec![
            secret("fixture-token"),
            secret("whsec_c2lnbmluZy1rZXktZm9yLXByb3BzLXRlc3Q="),
        ],
        ProviderId::AzureDevOps => vec![secret("gateway:fixture-password")],
        _ => vec![secret("fixture-secret")],
    }
}

/// Normalizing may not amplify: everything in a parsed event came out of its body, so it
/// never holds more path bytes or ref updates than the body has bytes.
pub fn assert_event_within_body(event: &Event, body: &[u8]) {
    let paths = &event.changed_paths;
    let path_bytes: usize = paths
        .added
        .iter()
        .chain(&paths.modified)
        .chain(&paths.removed)
        .map(String::len)
        .sum();
    assert!(
        path_bytes <= body.len(),
        "{path_bytes} bytes of paths from {}",
        body.len()
    );
    assert!(
        event.updates.len() <= body.len(),
        "{} ref updates from {} bytes",
        event.updates.len(),
        body.len()
    );
}
