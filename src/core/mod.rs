//! Pure, synchronous logic: no I/O, no clock, no environment. Everything it needs arrives as
//! arguments, which is what keeps its tests small and exhaustive.

pub mod annotations;
pub mod drift;
pub mod env;
pub mod model;
