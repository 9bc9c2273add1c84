//! The feed conformance suite against PostgreSQL, one test per rule, each check on a fresh
//! schema.

mod support;

use feed::{FeedBackend, Retention};
use support::{Feeds, Schemas};

macro_rules! suite {
    ($($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let suite = concat!("feed-postgres conformance::", stringify!($check));
                let Some(schemas) = Schemas::for_test(suite, stringify!($check)) else {
                    return;
                };
                let make = |retention: Retention| {
                    Box::new(schemas.open(&schemas.fresh(), retention)) as Box<dyn FeedBackend>
                };
                feed::conformance::$check(&make);
            }
        )*
    };
}

feed::conformance_checks!(suite);
