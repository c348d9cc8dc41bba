import { builder } from '../builder.ts';
import {
  ClientStatus,
  DeliverableStatus,
  Platform,
  PostStatus,
  ProjectStatus,
  Role,
} from '../generated/prisma/enums.ts';

export const RoleEnum = builder.enumType(Role, { name: 'Role' });
export const ClientStatusEnum = builder.enumType(ClientStatus, { name: 'ClientStatus' });
export const ProjectStatusEnum = builder.enumType(ProjectStatus, { name: 'ProjectStatus' });
export const PlatformEnum = builder.enumType(Platform, { name: 'Platform' });
export const PostStatusEnum = builder.enumType(PostStatus, { name: 'PostStatus' });
export const DeliverableStatusEnum = builder.enumType(DeliverableStatus, {
  name: 'DeliverableStatus',
});
