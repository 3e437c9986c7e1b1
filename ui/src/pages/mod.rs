//! One module per screen.

pub mod alerts;
pub mod audit;
pub mod data_upload;
pub mod held;
pub mod mappings;
pub mod overview;
pub mod reports;
pub mod signin;
pub mod submissions;
pub mod users;
