//! SIGINT and SIGTERM during long commands.
