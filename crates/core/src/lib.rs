//! The heart of ml-audit: what a prediction record is, how an incoming event becomes one, and
//! how personal data is removed before anything is stored.
//!
//! This crate performs no I/O: no HTTP, no SQL, no files, no async runtime. Everything here is a
//! pure function of its inputs (plus the clock and the random source for new ids), so the rules
//! that matter most for an audit trail are unit-testable and shared by every backend.

pub mod access;
pub mod auth;
pub mod error;
pub mod event;
pub mod ledger;
pub mod lifecycle;
pub mod model;
pub mod outcome;
pub mod quality;
pub mod query;
pub mod reasons;
pub mod redaction;
pub mod review;
pub mod timestamp;

pub use error::FieldError;
