//! The feed conformance suite against PostgreSQL, one test per rule, each check on a fresh
//! schema.

mod support;

use feed::{FeedBackend, Retention};
use support::Schemas;

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

suite!(
    order_and_no_gaps,
    no_entry_twice,
    abort_forgets_the_run,
    snapshot_then_live,
    retention_by_count,
    retention_by_age,
    drop_ref,
    paging,
    reads,
    subscribe_wakes,
);
