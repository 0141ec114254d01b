//! Filters on an incoming hook: compiled once, evaluated over a delivery's variables.
