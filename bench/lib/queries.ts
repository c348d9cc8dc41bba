/** The GraphQL documents the scenarios send. */

export const TYPENAME = '{ __typename }';

const POST_PAGE = `edges { cursor node { id title platform status scheduledAt project { name client { name } } } }
    pageInfo { hasNextPage endCursor }`;

export const FEED = `query Feed($status: PostStatus!, $platform: Platform!, $first: Int!) {
  posts(first: $first, filter: { status: [$status], platform: [$platform] }) {
    ${POST_PAGE}
  }
}`;

export const DEEP_PAGE = `query DeepPage($after: String!, $field: PostOrderField!) {
  posts(first: 20, after: $after, orderBy: { field: $field, direction: DESC }) {
    ${POST_PAGE}
  }
}`;

export const NODE = `query PostNode($id: ID!) {
  node(id: $id) { id ... on Post { title status platform project { name } client { name } } }
}`;

export const DASHBOARD = `query Dashboard($clientId: ID!) {
  dashboardStats(clientId: $clientId) {
    postsByStatus { status count }
    postsByPlatform { platform count }
    projectsByStatus { status count }
    overdueDeliverables
    postsScheduledNext7Days
  }
}`;

export const PROJECT_POSTS = `query ProjectPosts($projectId: ID!) {
  posts(first: 20, filter: { projectId: $projectId }) { edges { node { id title } } }
}`;

export const UPDATE_POST = `mutation UpdatePost($id: ID!, $title: String!) {
  updatePost(input: { id: $id, title: $title }) { post { id title updatedAt } }
}`;

export const CREATE_POST = `mutation CreatePost($projectId: ID!, $title: String!) {
  createPost(input: { projectId: $projectId, title: $title, body: "Written by the benchmark.", platform: INSTAGRAM }) {
    post { id title }
  }
}`;

export const LOGIN = `mutation Login($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) { token viewer { id role } }
}`;

export const STATUSES = ['PUBLISHED', 'DRAFT', 'IN_REVIEW', 'APPROVED', 'SCHEDULED', 'ARCHIVED'];
export const PLATFORMS = ['INSTAGRAM', 'FACEBOOK', 'LINKEDIN', 'X', 'TIKTOK', 'BLOG'];

/** The feed page as one SQL statement: the database's ceiling for the `feed` scenario. */
export const FEED_SQL = `SELECT p.id, p.title, p.platform, p.status, p.scheduled_at,
       pr.name AS project_name, c.name AS client_name
  FROM posts p JOIN projects pr ON pr.id = p.project_id JOIN clients c ON c.id = p.client_id
 WHERE p.status = $1::"PostStatus" AND p.platform = $2::"Platform"
 ORDER BY p.created_at DESC, p.id DESC LIMIT 21`;

/** The `node` scenario's post as one SQL statement: one post by id with project and client names. */
export const NODE_SQL = `SELECT p.id, p.title, p.status, p.platform, pr.name AS project_name, c.name AS client_name
  FROM posts p JOIN projects pr ON pr.id = p.project_id JOIN clients c ON c.id = p.client_id
 WHERE p.id = $1`;

/**
 * The `deep-page` scenario's page (newest first) after a given row, by keyset on the
 * `(created_at, id)` index, with the feed's columns.
 */
export const DEEP_SQL = `SELECT p.id, p.title, p.platform, p.status, p.scheduled_at, p.created_at,
       pr.name AS project_name, c.name AS client_name
  FROM posts p JOIN projects pr ON pr.id = p.project_id JOIN clients c ON c.id = p.client_id
 WHERE (p.created_at, p.id) < ($1::timestamptz, $2::int)
 ORDER BY p.created_at DESC, p.id DESC LIMIT 21`;

export const pick = <T>(items: readonly T[]): T => {
  if (items.length === 0) throw new Error('pick from an empty list');
  return items[Math.floor(Math.random() * items.length)] as T;
};

/**
 * The request bodies of the A/B and profiling scripts: one of the scenario's fixed `bodies` in
 * turn, or with `randomIds` (node only) a lookup of a random post in 1..randomIds, nearly every
 * one a response-cache miss.
 */
export function bodySource(
  scenario: string,
  bodies: string[],
  randomIds: number,
): (n: number) => string {
  if (randomIds && scenario !== 'node') throw new Error('--random-ids is for --scenario node');
  if (!randomIds) return (n) => bodies[n % bodies.length] as string;
  return () => {
    const id = Buffer.from(`Post:${1 + Math.floor(Math.random() * randomIds)}`).toString(
      'base64url',
    );
    return JSON.stringify({ query: NODE, variables: { id } });
  };
}
