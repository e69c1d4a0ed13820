//! aviary
