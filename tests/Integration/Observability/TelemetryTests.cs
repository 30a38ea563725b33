using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Celeriac.Brokers;
using Celeriac.Diagnostics;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Protocol;
using Celeriac.TestTasks;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Celeriac.IntegrationTests.Observability;

/// <summary>
/// Listeners of the process-wide <c>Celeriac</c> source and meter see every test's tasks: the telemetry tests run alone
/// (no other test runs meanwhile), so that their counts are exact.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "Telemetry";
}

/// <summary>Spans and metrics (docs/observability.md) against a real redis-server: one trace from a client to child tasks, exact counts, nothing allocated unobserved.</summary>
[Collection(TelemetryCollection.Name)]
public sealed class TelemetryTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task One_trace_runs_from_the_client_span_through_the_worker_span_to_a_child_tasks_span()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == CeleriacDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        IHost host = await TestHost.StartAsync(output, "traced", RedisFixture.Configuration, RedisFixture.NewPrefix(), new MemoryLedger());
        string topId, middleId, leafId;
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            TaskHandle<string> top = await Lineage.SpawnTask.DelayAsync(client, 1);
            topId = top.Id;
            middleId = await top.GetAsync(Timeout);
            leafId = await Lineage.SpawnTask.Handle(client, middleId).GetAsync(Timeout);
            _ = await Lineage.IdsTask.Handle(client, leafId).GetAsync(Timeout);
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }

        Activity Span(ActivityKind kind, string id) => spans.Single(s => s.Kind == kind && (s.GetTagItem("messaging.message.id") as string) == id);
        Activity sendTop = Span(ActivityKind.Producer, topId), runTop = Span(ActivityKind.Consumer, topId);
        Activity sendMiddle = Span(ActivityKind.Producer, middleId), runMiddle = Span(ActivityKind.Consumer, middleId);
        Activity sendLeaf = Span(ActivityKind.Producer, leafId), runLeaf = Span(ActivityKind.Consumer, leafId);
        Activity[] chain = [sendTop, runTop, sendMiddle, runMiddle, sendLeaf, runLeaf];
        foreach (Activity span in chain)
        {
            output.WriteLine($"{span.DisplayName,-16} {span.Kind,-9} trace {span.TraceId} span {span.SpanId} parent {span.ParentSpanId} task {span.GetTagItem("celeriac.task.name")}");
        }

        Assert.Equal(default, sendTop.ParentSpanId); // the test sent it from outside any span: the root
        Assert.All(chain, span => Assert.Equal(sendTop.TraceId, span.TraceId));
        for (int i = 1; i < chain.Length; i++)
        {
            Assert.Equal(chain[i - 1].SpanId, chain[i].ParentSpanId);
        }

        Assert.Equal("send default", sendTop.DisplayName);
        Assert.Equal("process default", runTop.DisplayName);
        Assert.Equal("celeriac", runTop.GetTagItem("messaging.system"));
        Assert.Equal("process", runTop.GetTagItem("messaging.operation.type"));
        Assert.Equal("default", runTop.GetTagItem("messaging.destination.name"));
        Assert.Equal(Lineage.SpawnTask.Name, runTop.GetTagItem("celeriac.task.name"));
        Assert.Equal("succeeded", runLeaf.GetTagItem("celeriac.task.outcome"));
        Assert.Equal(topId, runLeaf.GetTagItem("messaging.message.conversation_id")); // the workflow's root task
    }

    [Fact]
    public async Task A_message_sent_untraced_gets_a_root_span_even_when_the_host_was_started_inside_an_activity()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == CeleriacDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        IHost host;
        using (Activity starting = new Activity("application start").Start())
        {
            host = await TestHost.StartAsync(output, "rooted", RedisFixture.Configuration, RedisFixture.NewPrefix(), new MemoryLedger());
        }

        string id = "untraced-" + Guid.NewGuid().ToString("N");
        try
        {
            // Enqueued as bytes with no trace context, as a client nobody traces (or an older one) sends it.
            ITaskBroker broker = await host.Services.GetRequiredService<BrokerProvider>().GetAsync(default);
            byte[] message = EnvelopeCodec.Encode(new Envelope { Id = id, Task = Calc.AddTask.Name, Args = new byte[] { 0x92, 0x01, 0x02 }, Queue = "default", CreatedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
            Assert.Equal(0x90 + 13, message[0]); // no trailing fields
            await broker.EnqueueAsync([new EnqueueItem(id, "default", message, 0)], default);
            Assert.Equal(3, await Calc.AddTask.Handle(host.Services.GetRequiredService<ITaskClient>(), id).GetAsync(Timeout));
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }

        Activity run = spans.Single(s => s.Kind == ActivityKind.Consumer && (s.GetTagItem("messaging.message.id") as string) == id);
        output.WriteLine($"{run.DisplayName} trace {run.TraceId} span {run.SpanId} parent {run.ParentSpanId}");
        Assert.Equal(default, run.ParentSpanId);
        Assert.Null(run.Parent);
    }

    [Fact]
    public async Task One_trace_crosses_from_the_client_to_a_worker_process_and_its_child_tasks()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == CeleriacDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        string prefix = RedisFixture.NewPrefix();
        using WorkerProcess worker = await WorkerProcess.StartAsync(output, "traced-worker", RedisFixture.Configuration, prefix, "default", 2, 5000, "--trace", "true");
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        TaskHandle<string> top = await Lineage.SpawnTask.DelayAsync(client, 1);
        string middleId = await top.GetAsync(Timeout);
        string leafId = await Lineage.SpawnTask.Handle(client, middleId).GetAsync(Timeout);
        _ = await Lineage.IdsTask.Handle(client, leafId).GetAsync(Timeout);

        Activity send = spans.Single(s => s.Kind == ActivityKind.Producer && (s.GetTagItem("messaging.message.id") as string) == top.Id);
        await Wait.UntilAsync(() => Task.FromResult(worker.Lines.Any(l => l.StartsWith("SPAN Consumer ", StringComparison.Ordinal) && l.EndsWith(" " + leafId, StringComparison.Ordinal))), Timeout, "the worker's line for the leaf's span");
        // The worker process printed its spans: SPAN kind trace span parent task-id (the leaf's run ends before its result is stored).
        string[][] printed = [.. worker.Lines.Where(l => l.StartsWith("SPAN ", StringComparison.Ordinal)).Select(l => l.Split(' '))];
        string[] Printed(string kind, string id) => printed.Single(p => p[1] == kind && p.Length > 5 && p[5] == id);
        string[][] chain = [Printed("Consumer", top.Id), Printed("Producer", middleId), Printed("Consumer", middleId), Printed("Producer", leafId), Printed("Consumer", leafId)];
        Assert.All(chain, span => Assert.Equal(send.TraceId.ToString(), span[2]));
        Assert.Equal(send.SpanId.ToString(), chain[0][4]); // the worker's run is the child of the test's send
        for (int i = 1; i < chain.Length; i++)
        {
            Assert.Equal(chain[i - 1][3], chain[i][4]);
        }
    }

    [Fact]
    public async Task Metric_values_are_exact_for_a_known_workload()
    {
        var measurements = new ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == CeleriacDiagnostics.MeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) => measurements.Enqueue((instrument.Name, value, ToDictionary(tags))));
        meters.SetMeasurementEventCallback<double>((instrument, value, tags, _) => measurements.Enqueue((instrument.Name, value, ToDictionary(tags))));
        meters.Start();

        string madeUp = "Celeriac.TestTasks.NoSuchTask" + Guid.NewGuid().ToString("N");
        IHost host = await TestHost.StartAsync(output, "measured", RedisFixture.Configuration, RedisFixture.NewPrefix(), new MemoryLedger());
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            var handles = new List<string>();
            for (int i = 0; i < 5; i++)
            {
                handles.Add((await Calc.AddTask.DelayAsync(client, i, 1)).Id);
            }

            handles.Add((await Calc.FailTask.DelayAsync(client, "one")).Id);
            handles.Add((await Calc.FailTask.DelayAsync(client, "two")).Id);
            handles.Add((await Faults.AlwaysFailsTask.DelayAsync(client, "metrics")).Id); // 2 retries, then FAILURE and a dead letter
            // A message naming a task nobody registered: dead-lettered, counted, but its name is not an attribute value.
            ITaskBroker broker = await host.Services.GetRequiredService<BrokerProvider>().GetAsync(default);
            byte[] unknown = EnvelopeCodec.Encode(new Envelope { Id = "unknown-" + madeUp, Task = madeUp, Args = new byte[] { 0x90 }, Queue = "default", CreatedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
            await broker.EnqueueAsync([new EnqueueItem("unknown-" + madeUp, "default", unknown, 0)], default);
            handles.Add("unknown-" + madeUp);
            foreach (string id in handles)
            {
                Assert.True((await client.WaitAsync(id, Timeout, CancellationToken.None)).IsReady, $"task {id} did not end");
            }
        }
        finally
        {
            await TestHost.StopAllAsync([host]); // every outcome of the workload was decided and reported before the stop returns
        }

        string add = Calc.AddTask.Name, fail = Calc.FailTask.Name, always = Faults.AlwaysFailsTask.Name;
        var mine = measurements.Where(m => m.Tags.TryGetValue("celeriac.task.name", out object? name) && (string?)name is { } n && (n == add || n == fail || n == always)).ToList();
        double Sum(string instrument, string task, string? key = null, string? value = null)
            => mine.Where(m => m.Instrument == instrument && (string?)m.Tags["celeriac.task.name"] == task && (key is null || Equals(m.Tags.GetValueOrDefault(key), value))).Sum(m => m.Value);
        int Count(string instrument, string task)
            => mine.Count(m => m.Instrument == instrument && (string?)m.Tags["celeriac.task.name"] == task);
        foreach (var group in mine.GroupBy(m => (m.Instrument, Task: (string?)m.Tags["celeriac.task.name"])))
        {
            output.WriteLine($"{group.Key.Instrument} {group.Key.Task}: {group.Count()} measurements, sum {group.Sum(m => m.Value)}");
        }

        Assert.Equal(5, Sum(CeleriacDiagnostics.Metrics.SentMessages, add));
        Assert.Equal(2, Sum(CeleriacDiagnostics.Metrics.SentMessages, fail));
        Assert.Equal(1, Sum(CeleriacDiagnostics.Metrics.SentMessages, always)); // retries are not sends
        Assert.Equal(5, Sum(CeleriacDiagnostics.Metrics.Completed, add, "celeriac.task.state", "success"));
        Assert.Equal(0, Sum(CeleriacDiagnostics.Metrics.Completed, add, "celeriac.task.state", "failure"));
        Assert.Equal(2, Sum(CeleriacDiagnostics.Metrics.Completed, fail, "celeriac.task.state", "failure"));
        Assert.Equal(1, Sum(CeleriacDiagnostics.Metrics.Completed, always, "celeriac.task.state", "failure"));
        Assert.Equal(0, Sum(CeleriacDiagnostics.Metrics.Retries, add) + Sum(CeleriacDiagnostics.Metrics.Retries, fail));
        Assert.Equal(2, Sum(CeleriacDiagnostics.Metrics.Retries, always));
        Assert.Equal(1, Sum(CeleriacDiagnostics.Metrics.DeadLetters, always, "celeriac.dead_letter.reason", DeadLetterReasons.Failed));
        Assert.Equal(0, Sum(CeleriacDiagnostics.Metrics.DeadLetters, add) + Sum(CeleriacDiagnostics.Metrics.DeadLetters, fail));
        // One duration and one queue wait per run: 5 + 2 + 3 (two retried runs and the last, failed one).
        Assert.Equal(5, Count(CeleriacDiagnostics.Metrics.ProcessDuration, add));
        Assert.Equal(2, Count(CeleriacDiagnostics.Metrics.ProcessDuration, fail));
        Assert.Equal(3, Count(CeleriacDiagnostics.Metrics.ProcessDuration, always));
        Assert.Equal(10, Count(CeleriacDiagnostics.Metrics.QueueWait, add) + Count(CeleriacDiagnostics.Metrics.QueueWait, fail) + Count(CeleriacDiagnostics.Metrics.QueueWait, always));
        Assert.All(mine.Where(m => m.Instrument == CeleriacDiagnostics.Metrics.ProcessDuration && (string?)m.Tags["celeriac.task.name"] == fail), m => Assert.Equal(typeof(InvalidOperationException).FullName, m.Tags["error.type"]));
        // The in-flight gauge went up once per run and came back to zero.
        Assert.Equal(10, mine.Count(m => m.Instrument == CeleriacDiagnostics.Metrics.Active && m.Value > 0));
        Assert.Equal(0, mine.Where(m => m.Instrument == CeleriacDiagnostics.Metrics.Active).Sum(m => m.Value));
        Assert.Single(measurements, m => m.Instrument == CeleriacDiagnostics.Metrics.DeadLetters && Equals(m.Tags.GetValueOrDefault("celeriac.dead_letter.reason"), DeadLetterReasons.UnknownTask) && !m.Tags.ContainsKey("celeriac.task.name"));
        Assert.DoesNotContain(measurements, m => m.Tags.Values.Contains(madeUp));
        Assert.All(mine, m => Assert.Equal("celeriac", m.Tags["messaging.system"]));
        Assert.All(mine, m => Assert.Equal("default", m.Tags["messaging.destination.name"]));
    }

    [Fact]
    public async Task The_OpenTelemetry_extension_exports_the_trace_and_the_metrics_in_memory()
    {
        var exported = new List<Activity>();
        var metrics = new List<MetricSnapshot>();
        using TracerProvider tracing = Sdk.CreateTracerProviderBuilder().AddCeleriacInstrumentation().AddInMemoryExporter(exported).Build()!;
        using MeterProvider metering = Sdk.CreateMeterProviderBuilder().AddCeleriacInstrumentation().AddInMemoryExporter(metrics).Build()!;

        IHost host = await TestHost.StartAsync(output, "otel", RedisFixture.Configuration, RedisFixture.NewPrefix(), new MemoryLedger());
        string topId, leafId;
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            TaskHandle<string> top = await Lineage.SpawnTask.DelayAsync(client, 0);
            topId = top.Id;
            leafId = await top.GetAsync(Timeout);
            _ = await Lineage.IdsTask.Handle(client, leafId).GetAsync(Timeout);
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }

        Assert.True(tracing.ForceFlush());
        Assert.True(metering.ForceFlush());
        Activity root = exported.Single(s => s.Kind == ActivityKind.Producer && (s.GetTagItem("messaging.message.id") as string) == topId);
        Activity[] trace = [.. exported.Where(s => s.TraceId == root.TraceId)];
        foreach (Activity span in trace)
        {
            output.WriteLine($"{span.DisplayName} {span.Kind} {span.SpanId} <- {span.ParentSpanId} {span.GetTagItem("messaging.message.id")}");
        }

        Assert.Equal(4, trace.Length); // send, process, the child's send and its process
        Activity[] chain = OrderByParent(trace, root);
        Assert.Equal([ActivityKind.Producer, ActivityKind.Consumer, ActivityKind.Producer, ActivityKind.Consumer], chain.Select(s => s.Kind));
        Assert.Equal(leafId, chain[3].GetTagItem("messaging.message.id"));

        long sentSpawn = 0, sentIds = 0;
        foreach (MetricSnapshot metric in metrics.Where(m => m.Name == CeleriacDiagnostics.Metrics.SentMessages))
        {
            foreach (MetricPoint point in metric.MetricPoints)
            {
                string? task = null;
                foreach (KeyValuePair<string, object?> tag in point.Tags)
                {
                    task = tag.Key == "celeriac.task.name" ? tag.Value as string : task;
                }

                sentSpawn = task == Lineage.SpawnTask.Name ? Math.Max(sentSpawn, point.GetSumLong()) : sentSpawn; // cumulative: the last export holds the total
                sentIds = task == Lineage.IdsTask.Name ? Math.Max(sentIds, point.GetSumLong()) : sentIds;
            }
        }

        Assert.Equal(1, sentSpawn);
        Assert.Equal(1, sentIds);
        Assert.Contains(metrics, m => m.Name == CeleriacDiagnostics.Metrics.ProcessDuration);
    }

    [Fact]
    public void A_task_allocates_nothing_for_telemetry_when_nobody_listens_and_something_when_someone_does()
    {
        var observer = new OutcomeObserver(NullLogger.Instance, [], TimeProvider.System);
        var delivery = new Delivery { Id = "id", Queue = "default", LeaseToken = "t", Envelope = new byte[] { 0x90 }, DeliveryCount = 1 };
        var envelope = new Envelope { Id = "id", Task = "task", Args = default, Queue = "default", CreatedMs = 1 };
        long PerTask()
        {
            OneTask(observer, delivery, envelope); // warm
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
            {
                OneTask(observer, delivery, envelope);
            }

            return (GC.GetAllocatedBytesForCurrentThread() - before) / 1000;
        }

        long unobserved = PerTask();
        long traced;
        using (var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == CeleriacDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        })
        {
            ActivitySource.AddActivityListener(listener);
            traced = PerTask();
        }

        output.WriteLine($"per task (send + run + outcome): {unobserved} B with nobody listening, {traced} B traced");
        Assert.Equal(0, unobserved);
        Assert.True(traced > 0, "a traced task allocates its spans: the measurement sees allocations");
    }

    /// <summary>What the client and the worker call per task: the send span and count, the run's start, its outcome, the end of the run.</summary>
    private static void OneTask(OutcomeObserver observer, Delivery delivery, Envelope envelope)
    {
        Activity? send = Telemetry.StartSend("default", "task", 1);
        Telemetry.SendSucceeded("default", "task", 1);
        send?.Dispose();
        Telemetry.RunStarting(delivery, envelope, TimeProvider.System, "worker");
        observer.Succeeded(delivery, envelope, TimeProvider.System.GetTimestamp());
        if (delivery.RunActivity is not null || delivery.CountedActive)
        {
            Telemetry.RunFinished(delivery);
        }
    }

    private static Activity[] OrderByParent(Activity[] spans, Activity root)
    {
        var ordered = new List<Activity> { root };
        while (spans.FirstOrDefault(s => s.ParentSpanId == ordered[^1].SpanId) is { } next)
        {
            ordered.Add(next);
        }

        return [.. ordered];
    }

    private static Dictionary<string, object?> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            result[tag.Key] = tag.Value;
        }

        return result;
    }
}
