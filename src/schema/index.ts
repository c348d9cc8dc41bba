/** Imports every entity file and exports the schema. Nothing else imports src/schema/. */
import { lexicographicSortSchema } from 'graphql';
import { builder } from '../builder.ts';
import './enums.ts';
import './user.ts';
import './client.ts';
import './project.ts';
import './post.ts';
import './deliverable.ts';
import './dashboard.ts';
import './jobs.ts';
import './assets.ts';
import './system.ts';
import './cache-status.ts';

export const schema = lexicographicSortSchema(builder.toSchema());
