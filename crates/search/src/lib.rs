//! search (under construction in this commit).
