pub mod access;
pub mod ledger;
pub mod lifecycle;
pub mod models;
pub mod outcomes;
pub mod predictions;
pub mod subjects;
pub mod system;
