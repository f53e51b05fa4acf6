pub mod ledger;
pub mod lifecycle;
pub mod models;
pub mod predictions;
pub mod system;
