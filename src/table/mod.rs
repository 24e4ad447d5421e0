//! table/: the table (SST) file format; filled in by the tables milestone.

pub(crate) mod filter;
