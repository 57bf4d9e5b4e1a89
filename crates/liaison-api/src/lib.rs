//! Local HTTP API (the node issue builds it).
