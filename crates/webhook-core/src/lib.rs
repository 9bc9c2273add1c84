//! webhook-core (under construction in this commit).
