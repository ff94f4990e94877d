pub mod row_order;
