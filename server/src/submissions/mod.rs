//! Submissions: [`intake`] (validate, map, persist, enqueue), the submission [`log`],
//! [`requeue`], and the DHIS2-shaped views of them ([`jobs`], [`verdict`]). The payload
//! formats are [`aggregate`], [`data_value_set`] and [`tracker`], and the
//! [`document`]s: [`adx`], [`fhir`] and uploaded [`data_file`]s; [`partner_scope`] bounds what a
//! scoped partner may submit; [`org_unit_push`] turns an
//! org-unit sync into metadata submissions for CC servers.

pub mod adx;
pub mod aggregate;
pub mod data_file;
pub mod data_value_set;
pub mod document;
pub mod fhir;
pub mod intake;
pub mod jobs;
pub mod log;
pub mod org_unit_push;
pub mod overview;
pub mod partner_scope;
pub mod refused;
pub mod requeue;
pub mod screen;
pub mod tracker;
pub mod verdict;

pub use intake::{
    Intake, Scope, accept, accept_data_value_set, accept_document, accept_tracker, check_document,
    elements_out_of_scope, preview_document, screen_data_value_set,
};
pub use log::{delete, get, list, purge};
pub use requeue::{delete_many, requeue, requeue_one, requeue_refused_for_mapping, requeue_task};
