using Celeriac;

// The queues of the sample tasks. Declaring them lets the generator check every [Task(Queue = ...)] and route, emits
// Celeriac.Generated.Celeriac_Samples_Tasks.Queues.Billing for typed per-call overrides, and makes a worker that loads these
// tasks refuse to start on a queue not declared here (docs/routing.md).
[assembly: TaskQueue("billing")]
