//! What each built-in provider implements, [`Builtin`]; [`Provider`] follows for all of
//! them from it, so the id, the two parse entry points and the verify signature are written
//! once.

use crate::delivery::{Delivery, ParseOptions, Verified, VerifyOptions};
use crate::error::Error;
use crate::event::Event;
use crate::provider::Provider;
use crate::provider_id::ProviderId;
use crate::secret::Secret;

/// What a delivery is verified against: the hook's secrets and the options in force.
/// Public in a private module, as [`Builtin`].
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    /// Any one of them may verify the delivery.
    pub secrets: &'a [Secret],
    /// The options in force.
    pub opts: &'a VerifyOptions,
}

/// A built-in provider. Public in a private module: nothing outside the crate can name it,
/// so it adds nothing to the API but the [`Provider`] impls it brings.
pub trait Builtin: Send + Sync + std::fmt::Debug {
    /// Which host this is.
    const ID: ProviderId;

    /// [`Provider::verify`].
    fn check(&self, delivery: &Delivery<'_>, keys: Keys<'_>) -> Result<Verified, Error>;

    /// [`Provider::parse_with`]; [`Provider::parse`] passes the default options.
    fn read(&self, delivery: &Delivery<'_>, options: &ParseOptions) -> Result<Event, Error>;
}

impl<B: Builtin> Provider for B {
    fn id(&self) -> ProviderId {
        B::ID
    }

    fn verify(
        &self,
        delivery: &Delivery<'_>,
        secrets: &[Secret],
        opts: &VerifyOptions,
    ) -> Result<Verified, Error> {
        self.check(delivery, Keys { secrets, opts })
    }

    fn parse(&self, delivery: &Delivery<'_>) -> Result<Event, Error> {
        self.read(delivery, &ParseOptions::default())
    }

    fn parse_with(&self, delivery: &Delivery<'_>, options: &ParseOptions) -> Result<Event, Error> {
        self.read(delivery, options)
    }
}
