//! Persistence behind a trait (the node issue builds it).
