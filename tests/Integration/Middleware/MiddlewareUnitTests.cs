using Celeriac.Brokers;
using Celeriac.Middleware;
using Celeriac.Protocol;
using Celeriac.Worker;
using Microsoft.Extensions.Logging.Abstractions;

namespace Celeriac.IntegrationTests.Middleware;

/// <summary>What middleware costs the worker's hot path per task: nothing with none registered.</summary>
public sealed class MiddlewareUnitTests(ITestOutputHelper output)
{
    [Fact]
    public void A_task_allocates_nothing_for_middleware_when_none_is_registered_and_something_with_one()
    {
        long none = PerTask(MiddlewarePipeline.None);
        long one = PerTask(new MiddlewarePipeline([new NoOp()], NullLogger.Instance));
        output.WriteLine($"per task (run hooks + outcome): {none} B with no middleware, {one} B with one no-op middleware");
        Assert.Equal(0, none);
        Assert.True(one > 0, "with a middleware the outcome it is handed is allocated: the measurement sees allocations");
    }

    private static long PerTask(MiddlewarePipeline middleware)
    {
        var observer = new OutcomeObserver(NullLogger.Instance, [], TimeProvider.System, null, middleware, "worker");
        var delivery = new Delivery { Id = "id", Queue = "default", LeaseToken = "t", Envelope = new byte[] { 0x90 }, DeliveryCount = 1 };
        var envelope = new Envelope { Id = "id", Task = "task", Args = default, Queue = "default", CreatedMs = 1 };
        var context = new TaskContext { TaskId = "id", TaskName = "task", Queue = "default" };
        OneTask(middleware, observer, delivery, envelope, context); // warm
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            OneTask(middleware, observer, delivery, envelope, context);
        }

        return (GC.GetAllocatedBytesForCurrentThread() - before) / 1000;
    }

    /// <summary>What the worker's consumer loop calls per task for middleware: the run hooks (each behind <see cref="MiddlewarePipeline.Any"/>) and the outcome.</summary>
    private static void OneTask(MiddlewarePipeline middleware, OutcomeObserver observer, Delivery delivery, Envelope envelope, TaskContext context)
    {
        if (middleware.Any)
        {
            middleware.Running(context);
        }

        if (middleware.Any)
        {
            middleware.Ran(context, null);
        }

        observer.Succeeded(delivery, envelope, TimeProvider.System.GetTimestamp());
    }

    private sealed class NoOp : CeleriacMiddleware;
}
