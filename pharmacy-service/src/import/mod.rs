//! Switch-over import from the pharmacy's Django system (issue 13).

pub mod django_password;
