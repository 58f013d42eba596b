//! The tarball fetcher: one locked package in, a verified index row whose files are all in
//! the CAS out. Download, integrity check, gunzip, untar and CAS write, with retries.
