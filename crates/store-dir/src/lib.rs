//! pnpm's v11 content-addressable store: the `files/XX/<hash>[-exec]` layout, the SQLite
//! package index `index.db` with msgpackr-records values, and the integrity verifier.
