//! QUIC transport between pinned peers (the node issue builds it).
