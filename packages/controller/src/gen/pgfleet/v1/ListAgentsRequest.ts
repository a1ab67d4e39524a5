// Original file: ../../proto/pgfleet/v1/controller.proto


export interface ListAgentsRequest {
}

export interface ListAgentsRequest__Output {
}
