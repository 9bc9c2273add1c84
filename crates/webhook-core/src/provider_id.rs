//! [`ProviderId`]: the one list of Git hosts this crate knows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A Git host's webhook dialect, by the name used in URLs and config files.
///
/// `Display`, `FromStr` and serde all use the same names: `github`, `gitlab`, `gitea`
/// (also Forgejo and Gogs), `bitbucket` (Cloud and Server/Data Center) and `azure-devops`.
///
/// ```
/// use webhook_core::ProviderId;
/// let id: ProviderId = "azure-devops".parse()?;
/// assert_eq!(id, ProviderId::AzureDevOps);
/// assert_eq!(id.to_string(), "azure-devops");
/// assert!("gitbub".parse::<ProviderId>().is_err());
/// # Ok::<(), webhook_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProviderId {
    /// GitHub (github.com and GitHub Enterprise Server).
    GitHub,
    /// GitLab (gitlab.com and self-managed).
    GitLab,
    /// Gitea, Forgejo and Gogs.
    Gitea,
    /// Bitbucket Cloud and Bitbucket Server/Data Center.
    Bitbucket,
    /// Azure DevOps Services and Server.
    AzureDevOps,
}

impl ProviderId {
    /// Every provider, in the order the docs list them.
    pub const ALL: [ProviderId; 5] = [
        ProviderId::GitHub,
        ProviderId::GitLab,
        ProviderId::Gitea,
        ProviderId::Bitbucket,
        ProviderId::AzureDevOps,
    ];

    /// The name used in URLs and config: `github`, `gitlab`, `gitea`, `bitbucket`,
    /// `azure-devops`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderId::GitHub => "github",
            ProviderId::GitLab => "gitlab",
            ProviderId::Gitea => "gitea",
            ProviderId::Bitbucket => "bitbucket",
            ProviderId::AzureDevOps => "azure-devops",
        }
    }

    /// The headers (lower-case) that carry this provider's signature or credential: what a
    /// log of deliveries must never show.
    pub const fn secret_headers(self) -> &'static [&'static str] {
        match self {
            ProviderId::GitHub => &["x-hub-signature-256", "x-hub-signature"],
            ProviderId::GitLab => &["x-gitlab-token", "webhook-signature"],
            ProviderId::Gitea => &[
                "x-forgejo-signature",
                "x-gitea-signature",
                "x-gogs-signature",
                "x-hub-signature-256",
            ],
            ProviderId::Bitbucket => &["x-hub-signature"],
            ProviderId::AzureDevOps => &["authorization"],
        }
    }

    /// Every name, comma-separated, for messages that say what is accepted.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderId {
    type Err = Error;

    /// The provider of exactly this name (lowercase, as in URLs), or
    /// [`Error::UnknownProvider`].
    fn from_str(name: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|id| id.as_str() == name)
            .ok_or_else(|| Error::UnknownProvider {
                provider: name.to_owned(),
            })
    }
}

impl Serialize for ProviderId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProviderId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(|_| {
            serde::de::Error::custom(format_args!(
                "unknown provider `{name}`: use one of {}",
                Self::names()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_parse_and_serde() {
        for id in ProviderId::ALL {
            assert_eq!(id.to_string().parse::<ProviderId>().unwrap(), id);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            assert_eq!(serde_json::from_str::<ProviderId>(&json).unwrap(), id);
        }
        assert_eq!(
            ProviderId::names(),
            "github, gitlab, gitea, bitbucket, azure-devops"
        );
    }

    #[test]
    fn unknown_and_differently_cased_names_are_refused() {
        for name in ["GitHub", "gitbub", "", "azure_devops"] {
            assert_eq!(
                name.parse::<ProviderId>().unwrap_err().code(),
                "unknown_provider"
            );
        }
        let err = serde_json::from_str::<ProviderId>("\"gitbub\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown provider `gitbub`"),
            "{err}"
        );
    }
}
