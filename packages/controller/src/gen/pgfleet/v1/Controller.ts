// Original file: ../../proto/pgfleet/v1/controller.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { BackupClustersEvent as _pgfleet_v1_BackupClustersEvent, BackupClustersEvent__Output as _pgfleet_v1_BackupClustersEvent__Output } from '../../pgfleet/v1/BackupClustersEvent.js';
import type { BackupClustersRequest as _pgfleet_v1_BackupClustersRequest, BackupClustersRequest__Output as _pgfleet_v1_BackupClustersRequest__Output } from '../../pgfleet/v1/BackupClustersRequest.js';
import type { ControllerInfo as _pgfleet_v1_ControllerInfo, ControllerInfo__Output as _pgfleet_v1_ControllerInfo__Output } from '../../pgfleet/v1/ControllerInfo.js';
import type { ExpireBackupsRequest as _pgfleet_v1_ExpireBackupsRequest, ExpireBackupsRequest__Output as _pgfleet_v1_ExpireBackupsRequest__Output } from '../../pgfleet/v1/ExpireBackupsRequest.js';
import type { ExpireBackupsResponse as _pgfleet_v1_ExpireBackupsResponse, ExpireBackupsResponse__Output as _pgfleet_v1_ExpireBackupsResponse__Output } from '../../pgfleet/v1/ExpireBackupsResponse.js';
import type { GetControllerInfoRequest as _pgfleet_v1_GetControllerInfoRequest, GetControllerInfoRequest__Output as _pgfleet_v1_GetControllerInfoRequest__Output } from '../../pgfleet/v1/GetControllerInfoRequest.js';
import type { ListAgentsRequest as _pgfleet_v1_ListAgentsRequest, ListAgentsRequest__Output as _pgfleet_v1_ListAgentsRequest__Output } from '../../pgfleet/v1/ListAgentsRequest.js';
import type { ListAgentsResponse as _pgfleet_v1_ListAgentsResponse, ListAgentsResponse__Output as _pgfleet_v1_ListAgentsResponse__Output } from '../../pgfleet/v1/ListAgentsResponse.js';
import type { ListBackupsRequest as _pgfleet_v1_ListBackupsRequest, ListBackupsRequest__Output as _pgfleet_v1_ListBackupsRequest__Output } from '../../pgfleet/v1/ListBackupsRequest.js';
import type { ListBackupsResponse as _pgfleet_v1_ListBackupsResponse, ListBackupsResponse__Output as _pgfleet_v1_ListBackupsResponse__Output } from '../../pgfleet/v1/ListBackupsResponse.js';
import type { ListClustersRequest as _pgfleet_v1_ListClustersRequest, ListClustersRequest__Output as _pgfleet_v1_ListClustersRequest__Output } from '../../pgfleet/v1/ListClustersRequest.js';
import type { ListClustersResponse as _pgfleet_v1_ListClustersResponse, ListClustersResponse__Output as _pgfleet_v1_ListClustersResponse__Output } from '../../pgfleet/v1/ListClustersResponse.js';
import type { RestoreBackupEvent as _pgfleet_v1_RestoreBackupEvent, RestoreBackupEvent__Output as _pgfleet_v1_RestoreBackupEvent__Output } from '../../pgfleet/v1/RestoreBackupEvent.js';
import type { RestoreBackupRequest as _pgfleet_v1_RestoreBackupRequest, RestoreBackupRequest__Output as _pgfleet_v1_RestoreBackupRequest__Output } from '../../pgfleet/v1/RestoreBackupRequest.js';
import type { VerifyBackupEvent as _pgfleet_v1_VerifyBackupEvent, VerifyBackupEvent__Output as _pgfleet_v1_VerifyBackupEvent__Output } from '../../pgfleet/v1/VerifyBackupEvent.js';
import type { VerifyBackupRequest as _pgfleet_v1_VerifyBackupRequest, VerifyBackupRequest__Output as _pgfleet_v1_VerifyBackupRequest__Output } from '../../pgfleet/v1/VerifyBackupRequest.js';

export interface ControllerClient extends grpc.Client {
  BackupClusters(argument: _pgfleet_v1_BackupClustersRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_BackupClustersEvent__Output>;
  BackupClusters(argument: _pgfleet_v1_BackupClustersRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_BackupClustersEvent__Output>;
  backupClusters(argument: _pgfleet_v1_BackupClustersRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_BackupClustersEvent__Output>;
  backupClusters(argument: _pgfleet_v1_BackupClustersRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_BackupClustersEvent__Output>;
  
  ExpireBackups(argument: _pgfleet_v1_ExpireBackupsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ExpireBackupsResponse__Output>): grpc.ClientUnaryCall;
  ExpireBackups(argument: _pgfleet_v1_ExpireBackupsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_pgfleet_v1_ExpireBackupsResponse__Output>): grpc.ClientUnaryCall;
  ExpireBackups(argument: _pgfleet_v1_ExpireBackupsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ExpireBackupsResponse__Output>): grpc.ClientUnaryCall;
  ExpireBackups(argument: _pgfleet_v1_ExpireBackupsRequest, callback: grpc.requestCallback<_pgfleet_v1_ExpireBackupsResponse__Output>): grpc.ClientUnaryCall;
  expireBackups(argument: _pgfleet_v1_ExpireBackupsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ExpireBackupsResponse__Output>): grpc.ClientUnaryCall;
  expireBackups(argument: _pgfleet_v1_ExpireBackupsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_pgfleet_v1_ExpireBackupsResponse__Output>): grpc.ClientUnaryCall;
  expireBackups(argument: _pgfleet_v1_ExpireBackupsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ExpireBackupsResponse__Output>): grpc.ClientUnaryCall;
  expireBackups(argument: _pgfleet_v1_ExpireBackupsRequest, callback: grpc.requestCallback<_pgfleet_v1_ExpireBackupsResponse__Output>): grpc.ClientUnaryCall;
  
  GetControllerInfo(argument: _pgfleet_v1_GetControllerInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ControllerInfo__Output>): grpc.ClientUnaryCall;
  GetControllerInfo(argument: _pgfleet_v1_GetControllerInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_pgfleet_v1_ControllerInfo__Output>): grpc.ClientUnaryCall;
  GetControllerInfo(argument: _pgfleet_v1_GetControllerInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ControllerInfo__Output>): grpc.ClientUnaryCall;
  GetControllerInfo(argument: _pgfleet_v1_GetControllerInfoRequest, callback: grpc.requestCallback<_pgfleet_v1_ControllerInfo__Output>): grpc.ClientUnaryCall;
  getControllerInfo(argument: _pgfleet_v1_GetControllerInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ControllerInfo__Output>): grpc.ClientUnaryCall;
  getControllerInfo(argument: _pgfleet_v1_GetControllerInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_pgfleet_v1_ControllerInfo__Output>): grpc.ClientUnaryCall;
  getControllerInfo(argument: _pgfleet_v1_GetControllerInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ControllerInfo__Output>): grpc.ClientUnaryCall;
  getControllerInfo(argument: _pgfleet_v1_GetControllerInfoRequest, callback: grpc.requestCallback<_pgfleet_v1_ControllerInfo__Output>): grpc.ClientUnaryCall;
  
  ListAgents(argument: _pgfleet_v1_ListAgentsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  ListAgents(argument: _pgfleet_v1_ListAgentsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_pgfleet_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  ListAgents(argument: _pgfleet_v1_ListAgentsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  ListAgents(argument: _pgfleet_v1_ListAgentsRequest, callback: grpc.requestCallback<_pgfleet_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _pgfleet_v1_ListAgentsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _pgfleet_v1_ListAgentsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_pgfleet_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _pgfleet_v1_ListAgentsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _pgfleet_v1_ListAgentsRequest, callback: grpc.requestCallback<_pgfleet_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  
  ListBackups(argument: _pgfleet_v1_ListBackupsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListBackupsResponse__Output>): grpc.ClientUnaryCall;
  ListBackups(argument: _pgfleet_v1_ListBackupsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_pgfleet_v1_ListBackupsResponse__Output>): grpc.ClientUnaryCall;
  ListBackups(argument: _pgfleet_v1_ListBackupsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListBackupsResponse__Output>): grpc.ClientUnaryCall;
  ListBackups(argument: _pgfleet_v1_ListBackupsRequest, callback: grpc.requestCallback<_pgfleet_v1_ListBackupsResponse__Output>): grpc.ClientUnaryCall;
  listBackups(argument: _pgfleet_v1_ListBackupsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListBackupsResponse__Output>): grpc.ClientUnaryCall;
  listBackups(argument: _pgfleet_v1_ListBackupsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_pgfleet_v1_ListBackupsResponse__Output>): grpc.ClientUnaryCall;
  listBackups(argument: _pgfleet_v1_ListBackupsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListBackupsResponse__Output>): grpc.ClientUnaryCall;
  listBackups(argument: _pgfleet_v1_ListBackupsRequest, callback: grpc.requestCallback<_pgfleet_v1_ListBackupsResponse__Output>): grpc.ClientUnaryCall;
  
  ListClusters(argument: _pgfleet_v1_ListClustersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListClustersResponse__Output>): grpc.ClientUnaryCall;
  ListClusters(argument: _pgfleet_v1_ListClustersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_pgfleet_v1_ListClustersResponse__Output>): grpc.ClientUnaryCall;
  ListClusters(argument: _pgfleet_v1_ListClustersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListClustersResponse__Output>): grpc.ClientUnaryCall;
  ListClusters(argument: _pgfleet_v1_ListClustersRequest, callback: grpc.requestCallback<_pgfleet_v1_ListClustersResponse__Output>): grpc.ClientUnaryCall;
  listClusters(argument: _pgfleet_v1_ListClustersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListClustersResponse__Output>): grpc.ClientUnaryCall;
  listClusters(argument: _pgfleet_v1_ListClustersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_pgfleet_v1_ListClustersResponse__Output>): grpc.ClientUnaryCall;
  listClusters(argument: _pgfleet_v1_ListClustersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_pgfleet_v1_ListClustersResponse__Output>): grpc.ClientUnaryCall;
  listClusters(argument: _pgfleet_v1_ListClustersRequest, callback: grpc.requestCallback<_pgfleet_v1_ListClustersResponse__Output>): grpc.ClientUnaryCall;
  
  RestoreBackup(argument: _pgfleet_v1_RestoreBackupRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_RestoreBackupEvent__Output>;
  RestoreBackup(argument: _pgfleet_v1_RestoreBackupRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_RestoreBackupEvent__Output>;
  restoreBackup(argument: _pgfleet_v1_RestoreBackupRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_RestoreBackupEvent__Output>;
  restoreBackup(argument: _pgfleet_v1_RestoreBackupRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_RestoreBackupEvent__Output>;
  
  VerifyBackup(argument: _pgfleet_v1_VerifyBackupRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_VerifyBackupEvent__Output>;
  VerifyBackup(argument: _pgfleet_v1_VerifyBackupRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_VerifyBackupEvent__Output>;
  verifyBackup(argument: _pgfleet_v1_VerifyBackupRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_VerifyBackupEvent__Output>;
  verifyBackup(argument: _pgfleet_v1_VerifyBackupRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_pgfleet_v1_VerifyBackupEvent__Output>;
  
}

export interface ControllerHandlers extends grpc.UntypedServiceImplementation {
  BackupClusters: grpc.handleServerStreamingCall<_pgfleet_v1_BackupClustersRequest__Output, _pgfleet_v1_BackupClustersEvent>;
  
  ExpireBackups: grpc.handleUnaryCall<_pgfleet_v1_ExpireBackupsRequest__Output, _pgfleet_v1_ExpireBackupsResponse>;
  
  GetControllerInfo: grpc.handleUnaryCall<_pgfleet_v1_GetControllerInfoRequest__Output, _pgfleet_v1_ControllerInfo>;
  
  ListAgents: grpc.handleUnaryCall<_pgfleet_v1_ListAgentsRequest__Output, _pgfleet_v1_ListAgentsResponse>;
  
  ListBackups: grpc.handleUnaryCall<_pgfleet_v1_ListBackupsRequest__Output, _pgfleet_v1_ListBackupsResponse>;
  
  ListClusters: grpc.handleUnaryCall<_pgfleet_v1_ListClustersRequest__Output, _pgfleet_v1_ListClustersResponse>;
  
  RestoreBackup: grpc.handleServerStreamingCall<_pgfleet_v1_RestoreBackupRequest__Output, _pgfleet_v1_RestoreBackupEvent>;
  
  VerifyBackup: grpc.handleServerStreamingCall<_pgfleet_v1_VerifyBackupRequest__Output, _pgfleet_v1_VerifyBackupEvent>;
  
}

export interface ControllerDefinition extends grpc.ServiceDefinition {
  BackupClusters: MethodDefinition<_pgfleet_v1_BackupClustersRequest, _pgfleet_v1_BackupClustersEvent, _pgfleet_v1_BackupClustersRequest__Output, _pgfleet_v1_BackupClustersEvent__Output>
  ExpireBackups: MethodDefinition<_pgfleet_v1_ExpireBackupsRequest, _pgfleet_v1_ExpireBackupsResponse, _pgfleet_v1_ExpireBackupsRequest__Output, _pgfleet_v1_ExpireBackupsResponse__Output>
  GetControllerInfo: MethodDefinition<_pgfleet_v1_GetControllerInfoRequest, _pgfleet_v1_ControllerInfo, _pgfleet_v1_GetControllerInfoRequest__Output, _pgfleet_v1_ControllerInfo__Output>
  ListAgents: MethodDefinition<_pgfleet_v1_ListAgentsRequest, _pgfleet_v1_ListAgentsResponse, _pgfleet_v1_ListAgentsRequest__Output, _pgfleet_v1_ListAgentsResponse__Output>
  ListBackups: MethodDefinition<_pgfleet_v1_ListBackupsRequest, _pgfleet_v1_ListBackupsResponse, _pgfleet_v1_ListBackupsRequest__Output, _pgfleet_v1_ListBackupsResponse__Output>
  ListClusters: MethodDefinition<_pgfleet_v1_ListClustersRequest, _pgfleet_v1_ListClustersResponse, _pgfleet_v1_ListClustersRequest__Output, _pgfleet_v1_ListClustersResponse__Output>
  RestoreBackup: MethodDefinition<_pgfleet_v1_RestoreBackupRequest, _pgfleet_v1_RestoreBackupEvent, _pgfleet_v1_RestoreBackupRequest__Output, _pgfleet_v1_RestoreBackupEvent__Output>
  VerifyBackup: MethodDefinition<_pgfleet_v1_VerifyBackupRequest, _pgfleet_v1_VerifyBackupEvent, _pgfleet_v1_VerifyBackupRequest__Output, _pgfleet_v1_VerifyBackupEvent__Output>
}
