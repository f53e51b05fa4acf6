pub mod exports;
pub mod ledger;
pub mod lifecycle;
pub mod models;
pub mod outcomes;
pub mod predictions;
pub mod system;
