// A Camunda 8 Node.js SDK (@camunda8/sdk, unmodified) worker and client against zennode.
// Usage: node camunda_sdk_flow.js ADDRESS BPMN_FILE PROCESS_ID JOB_TYPE
// Prints one JSON line with what it saw; exits non-zero on any error.
const { Camunda8 } = require('@camunda8/sdk')

const [address, bpmnFile, processId, jobType] = process.argv.slice(2)
const c8 = new Camunda8({
  ZEEBE_GRPC_ADDRESS: `grpc://${address}`,
  CAMUNDA_AUTH_STRATEGY: 'NONE',
  zeebeGrpcSettings: { ZEEBE_CLIENT_LOG_LEVEL: 'NONE' },
})
const zbc = c8.getZeebeGrpcApiClient()

async function main() {
  const topology = await zbc.topology()
  const deployed = await zbc.deployResource({ processFilename: bpmnFile })
  const worker = zbc.createWorker({
    taskType: jobType,
    taskHandler: (job) => job.complete({ doubled: job.variables.n * 2, region: job.customHeaders.region }),
  })
  const results = []
  for (let n = 1; n <= 3; n++) {
    const result = await zbc.createProcessInstanceWithResult({
      bpmnProcessId: processId,
      variables: { n },
      requestTimeout: 20000,
    })
    results.push(result.variables)
  }
  await worker.close()
  await zbc.close()
  console.log(JSON.stringify({
    brokers: topology.brokers.length,
    partitions: topology.partitionsCount,
    deployed: deployed.deployments.map((d) => d.process.bpmnProcessId),
    results,
  }))
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
