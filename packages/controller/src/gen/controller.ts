import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AgentStatus as _pgfleet_v1_AgentStatus, AgentStatus__Output as _pgfleet_v1_AgentStatus__Output } from './pgfleet/v1/AgentStatus.js';
import type { BackupClustersEvent as _pgfleet_v1_BackupClustersEvent, BackupClustersEvent__Output as _pgfleet_v1_BackupClustersEvent__Output } from './pgfleet/v1/BackupClustersEvent.js';
import type { BackupClustersRequest as _pgfleet_v1_BackupClustersRequest, BackupClustersRequest__Output as _pgfleet_v1_BackupClustersRequest__Output } from './pgfleet/v1/BackupClustersRequest.js';
import type { BackupFile as _pgfleet_v1_BackupFile, BackupFile__Output as _pgfleet_v1_BackupFile__Output } from './pgfleet/v1/BackupFile.js';
import type { BackupRecord as _pgfleet_v1_BackupRecord, BackupRecord__Output as _pgfleet_v1_BackupRecord__Output } from './pgfleet/v1/BackupRecord.js';
import type { BackupTablespace as _pgfleet_v1_BackupTablespace, BackupTablespace__Output as _pgfleet_v1_BackupTablespace__Output } from './pgfleet/v1/BackupTablespace.js';
import type { ClusterSummary as _pgfleet_v1_ClusterSummary, ClusterSummary__Output as _pgfleet_v1_ClusterSummary__Output } from './pgfleet/v1/ClusterSummary.js';
import type { ControllerClient as _pgfleet_v1_ControllerClient, ControllerDefinition as _pgfleet_v1_ControllerDefinition } from './pgfleet/v1/Controller.js';
import type { ControllerInfo as _pgfleet_v1_ControllerInfo, ControllerInfo__Output as _pgfleet_v1_ControllerInfo__Output } from './pgfleet/v1/ControllerInfo.js';
import type { Error as _pgfleet_v1_Error, Error__Output as _pgfleet_v1_Error__Output } from './pgfleet/v1/Error.js';
import type { ExpireBackupsRequest as _pgfleet_v1_ExpireBackupsRequest, ExpireBackupsRequest__Output as _pgfleet_v1_ExpireBackupsRequest__Output } from './pgfleet/v1/ExpireBackupsRequest.js';
import type { ExpireBackupsResponse as _pgfleet_v1_ExpireBackupsResponse, ExpireBackupsResponse__Output as _pgfleet_v1_ExpireBackupsResponse__Output } from './pgfleet/v1/ExpireBackupsResponse.js';
import type { ExpiredBackup as _pgfleet_v1_ExpiredBackup, ExpiredBackup__Output as _pgfleet_v1_ExpiredBackup__Output } from './pgfleet/v1/ExpiredBackup.js';
import type { GetControllerInfoRequest as _pgfleet_v1_GetControllerInfoRequest, GetControllerInfoRequest__Output as _pgfleet_v1_GetControllerInfoRequest__Output } from './pgfleet/v1/GetControllerInfoRequest.js';
import type { ListAgentsRequest as _pgfleet_v1_ListAgentsRequest, ListAgentsRequest__Output as _pgfleet_v1_ListAgentsRequest__Output } from './pgfleet/v1/ListAgentsRequest.js';
import type { ListAgentsResponse as _pgfleet_v1_ListAgentsResponse, ListAgentsResponse__Output as _pgfleet_v1_ListAgentsResponse__Output } from './pgfleet/v1/ListAgentsResponse.js';
import type { ListBackupsRequest as _pgfleet_v1_ListBackupsRequest, ListBackupsRequest__Output as _pgfleet_v1_ListBackupsRequest__Output } from './pgfleet/v1/ListBackupsRequest.js';
import type { ListBackupsResponse as _pgfleet_v1_ListBackupsResponse, ListBackupsResponse__Output as _pgfleet_v1_ListBackupsResponse__Output } from './pgfleet/v1/ListBackupsResponse.js';
import type { ListClustersRequest as _pgfleet_v1_ListClustersRequest, ListClustersRequest__Output as _pgfleet_v1_ListClustersRequest__Output } from './pgfleet/v1/ListClustersRequest.js';
import type { ListClustersResponse as _pgfleet_v1_ListClustersResponse, ListClustersResponse__Output as _pgfleet_v1_ListClustersResponse__Output } from './pgfleet/v1/ListClustersResponse.js';
import type { RestoreBackupEvent as _pgfleet_v1_RestoreBackupEvent, RestoreBackupEvent__Output as _pgfleet_v1_RestoreBackupEvent__Output } from './pgfleet/v1/RestoreBackupEvent.js';
import type { RestoreBackupRequest as _pgfleet_v1_RestoreBackupRequest, RestoreBackupRequest__Output as _pgfleet_v1_RestoreBackupRequest__Output } from './pgfleet/v1/RestoreBackupRequest.js';
import type { RestoredTablespace as _pgfleet_v1_RestoredTablespace, RestoredTablespace__Output as _pgfleet_v1_RestoredTablespace__Output } from './pgfleet/v1/RestoredTablespace.js';
import type { TablespaceMapping as _pgfleet_v1_TablespaceMapping, TablespaceMapping__Output as _pgfleet_v1_TablespaceMapping__Output } from './pgfleet/v1/TablespaceMapping.js';
import type { VerifyBackupEvent as _pgfleet_v1_VerifyBackupEvent, VerifyBackupEvent__Output as _pgfleet_v1_VerifyBackupEvent__Output } from './pgfleet/v1/VerifyBackupEvent.js';
import type { VerifyBackupRequest as _pgfleet_v1_VerifyBackupRequest, VerifyBackupRequest__Output as _pgfleet_v1_VerifyBackupRequest__Output } from './pgfleet/v1/VerifyBackupRequest.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  pgfleet: {
    v1: {
      AgentStatus: MessageTypeDefinition<_pgfleet_v1_AgentStatus, _pgfleet_v1_AgentStatus__Output>
      BackupClustersEvent: MessageTypeDefinition<_pgfleet_v1_BackupClustersEvent, _pgfleet_v1_BackupClustersEvent__Output>
      BackupClustersRequest: MessageTypeDefinition<_pgfleet_v1_BackupClustersRequest, _pgfleet_v1_BackupClustersRequest__Output>
      BackupFile: MessageTypeDefinition<_pgfleet_v1_BackupFile, _pgfleet_v1_BackupFile__Output>
      BackupRecord: MessageTypeDefinition<_pgfleet_v1_BackupRecord, _pgfleet_v1_BackupRecord__Output>
      BackupTablespace: MessageTypeDefinition<_pgfleet_v1_BackupTablespace, _pgfleet_v1_BackupTablespace__Output>
      ClusterSummary: MessageTypeDefinition<_pgfleet_v1_ClusterSummary, _pgfleet_v1_ClusterSummary__Output>
      Controller: SubtypeConstructor<typeof grpc.Client, _pgfleet_v1_ControllerClient> & { service: _pgfleet_v1_ControllerDefinition }
      ControllerInfo: MessageTypeDefinition<_pgfleet_v1_ControllerInfo, _pgfleet_v1_ControllerInfo__Output>
      Error: MessageTypeDefinition<_pgfleet_v1_Error, _pgfleet_v1_Error__Output>
      ExpireBackupsRequest: MessageTypeDefinition<_pgfleet_v1_ExpireBackupsRequest, _pgfleet_v1_ExpireBackupsRequest__Output>
      ExpireBackupsResponse: MessageTypeDefinition<_pgfleet_v1_ExpireBackupsResponse, _pgfleet_v1_ExpireBackupsResponse__Output>
      ExpiredBackup: MessageTypeDefinition<_pgfleet_v1_ExpiredBackup, _pgfleet_v1_ExpiredBackup__Output>
      GetControllerInfoRequest: MessageTypeDefinition<_pgfleet_v1_GetControllerInfoRequest, _pgfleet_v1_GetControllerInfoRequest__Output>
      ListAgentsRequest: MessageTypeDefinition<_pgfleet_v1_ListAgentsRequest, _pgfleet_v1_ListAgentsRequest__Output>
      ListAgentsResponse: MessageTypeDefinition<_pgfleet_v1_ListAgentsResponse, _pgfleet_v1_ListAgentsResponse__Output>
      ListBackupsRequest: MessageTypeDefinition<_pgfleet_v1_ListBackupsRequest, _pgfleet_v1_ListBackupsRequest__Output>
      ListBackupsResponse: MessageTypeDefinition<_pgfleet_v1_ListBackupsResponse, _pgfleet_v1_ListBackupsResponse__Output>
      ListClustersRequest: MessageTypeDefinition<_pgfleet_v1_ListClustersRequest, _pgfleet_v1_ListClustersRequest__Output>
      ListClustersResponse: MessageTypeDefinition<_pgfleet_v1_ListClustersResponse, _pgfleet_v1_ListClustersResponse__Output>
      RestoreBackupEvent: MessageTypeDefinition<_pgfleet_v1_RestoreBackupEvent, _pgfleet_v1_RestoreBackupEvent__Output>
      RestoreBackupRequest: MessageTypeDefinition<_pgfleet_v1_RestoreBackupRequest, _pgfleet_v1_RestoreBackupRequest__Output>
      RestoredTablespace: MessageTypeDefinition<_pgfleet_v1_RestoredTablespace, _pgfleet_v1_RestoredTablespace__Output>
      TablespaceMapping: MessageTypeDefinition<_pgfleet_v1_TablespaceMapping, _pgfleet_v1_TablespaceMapping__Output>
      VerifyBackupEvent: MessageTypeDefinition<_pgfleet_v1_VerifyBackupEvent, _pgfleet_v1_VerifyBackupEvent__Output>
      VerifyBackupRequest: MessageTypeDefinition<_pgfleet_v1_VerifyBackupRequest, _pgfleet_v1_VerifyBackupRequest__Output>
    }
  }
}

