import type { SeedOptions } from '../src/db/seed.ts';

/** The dataset every test database starts from (deterministic). */
export const TEST_SEED: SeedOptions = {
  posts: 400,
  clients: 4,
  projectsPerClient: 3,
  deliverablesPerProject: 4,
  staff: 3,
};

export const PASSWORD = 'postline-demo';
export const ADMIN = 'admin@postline.dev';
export const MANAGER = 'manager@postline.dev';
export const EDITOR = 'editor@postline.dev';
export const CLIENT1 = 'client1@postline.dev';
export const CLIENT2 = 'client2@postline.dev';
