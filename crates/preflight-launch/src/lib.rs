//! Pre-flight, then spawn: signal forwarding and exit status.
