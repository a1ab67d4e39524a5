// Original file: ../../proto/pgfleet/v1/controller.proto


export interface ListClustersRequest {
}

export interface ListClustersRequest__Output {
}
