//! Configuration as pnpm reads it: `package.json`, `pnpm-workspace.yaml`, `.npmrc` files,
//! the environment and CLI flags, merged with pnpm's precedence in one place.
