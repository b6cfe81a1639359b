//! The views, one function component per file.

mod api_key;
mod copy_button;
mod dashboard;
mod device_name;
mod device_table;
mod header;
mod job_form;
mod job_list;
mod job_preview;
mod join_page;
mod notice;
mod run_controls;
mod share_panel;
mod terminal;
mod throttle;
mod throughput_chart;
mod totals;
mod worker_view;

pub use api_key::ApiKey;
pub use copy_button::CopyButton;
pub use dashboard::Dashboard;
pub use device_name::DeviceName;
pub use device_table::DeviceTable;
pub use header::Header;
pub use job_form::JobForm;
pub use job_list::JobList;
pub use job_preview::JobPreview;
pub use join_page::JoinPage;
pub use notice::Notice;
pub use run_controls::RunControls;
pub use share_panel::SharePanel;
pub use terminal::Terminal;
pub use throttle::Throttle;
pub use throughput_chart::ThroughputChart;
pub use totals::Totals;
pub use worker_view::WorkerView;
