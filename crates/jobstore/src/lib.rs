//! jobstore (under construction in this commit).
