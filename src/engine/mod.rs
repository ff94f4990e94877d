//! Engine extensions: functions and plans that change how queries run, as opposed to where
//! the data come from (`crate::datasource`).

pub mod row_order;
pub mod vector;
