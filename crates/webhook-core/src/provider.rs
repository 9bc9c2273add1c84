//! The [`Provider`] trait and the [`Registry`] that maps [`ProviderId`]s to implementations.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::delivery::{Delivery, ParseOptions, Verified, VerifyOptions};
use crate::error::Error;
use crate::event::Event;
use crate::provider_id::ProviderId;
use crate::providers::{AzureDevOps, Bitbucket, GitHub, GitLab, Gitea};
use crate::secret::Secret;

/// A Git host's webhook dialect: how its deliveries are authenticated and what they mean.
///
/// The hosts are one closed list, [`ProviderId`]; an implementation of this trait
/// [`Registry::register`]ed under a built-in id replaces the crate's own (to adapt to a
/// host's variant, say).
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// Which host this is.
    fn id(&self) -> ProviderId;

    /// Authenticates the raw delivery; any one of `secrets` may verify it.
    fn verify(
        &self,
        delivery: &Delivery<'_>,
        secrets: &[Secret],
        opts: &VerifyOptions,
    ) -> Result<Verified, Error>;

    /// Normalizes a delivery (call after [`Provider::verify`] succeeded).
    fn parse(&self, delivery: &Delivery<'_>) -> Result<Event, Error>;

    /// [`Provider::parse`] with [`ParseOptions`]. The default ignores the options, so a
    /// provider that has nothing to skip need not implement it.
    fn parse_with(&self, delivery: &Delivery<'_>, options: &ParseOptions) -> Result<Event, Error> {
        let _ = options;
        self.parse(delivery)
    }
}

/// Providers by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    providers: BTreeMap<ProviderId, Arc<dyn Provider>>,
}

impl Registry {
    /// A registry with no provider.
    pub fn empty() -> Self {
        Self::default()
    }

    /// github, gitlab, gitea (also Forgejo and Gogs), bitbucket (Cloud and Server/Data
    /// Center) and azure-devops.
    pub fn with_builtins() -> Self {
        let mut registry = Self::empty();
        registry.register(Arc::new(GitHub));
        registry.register(Arc::new(GitLab));
        registry.register(Arc::new(Gitea));
        registry.register(Arc::new(Bitbucket));
        registry.register(Arc::new(AzureDevOps));
        registry
    }

    /// Adds `provider`, replacing any provider with the same id.
    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        self.providers.insert(provider.id(), provider);
    }

    /// The provider registered under `id`.
    pub fn get(&self, id: ProviderId) -> Option<&Arc<dyn Provider>> {
        self.providers.get(&id)
    }

    /// The provider registered under `id`, or [`Error::UnknownProvider`].
    pub fn require(&self, id: ProviderId) -> Result<&Arc<dyn Provider>, Error> {
        self.get(id).ok_or_else(|| Error::UnknownProvider {
            provider: id.to_string(),
        })
    }

    /// Registered ids, in [`ProviderId::ALL`] order.
    pub fn ids(&self) -> Vec<ProviderId> {
        self.providers.keys().copied().collect()
    }
}
