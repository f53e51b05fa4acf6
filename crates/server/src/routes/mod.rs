pub mod ledger;
pub mod models;
pub mod predictions;
pub mod system;
