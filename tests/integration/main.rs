//! The one integration-test binary (one binary keeps link time and disk small; see NOTES).
//! Each area has its own module.

mod cli;
mod distributed;
mod corpus;
mod fuzz;
mod interop;
mod remote;
mod sql;
mod vector;
mod writer;
