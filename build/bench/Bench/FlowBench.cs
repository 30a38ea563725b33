using System.Diagnostics;
using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>
/// The workflow bench (build/bench/run.sh flow): with one worker process, alternately (a) a plain drain of N no-op
/// tasks sent in bulk, timed from the send to the last task's result, and (b) a chord of N no-op members and a sum
/// callback, timed from the send to the callback's result, (c) a chain into a group step of N members and a sum, and
/// (d) the same with N/2 member chains of two steps each; then the round trip of a 3-step chain beside a single task's. Prints the figures (medians over the runs); exits 1 when a result is wrong.
/// </summary>
internal static class FlowBench
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        string redis = args.Required("redis");
        string workerBin = args.Required("worker-bin");
        int n = args.Int("n", 10_000);
        int runs = args.Int("runs", 3);
        int trips = args.Int("round-trips", 300);
        int concurrency = args.Int("concurrency", 64);
        int prefetch = args.Int("prefetch", 128);
        string log = args.Get("worker-log", ".tmp/bench/worker.log");

        await using ConnectionMultiplexer admin = await BenchKit.ConnectAdminAsync(redis, flush: true);
        IDatabase db = admin.GetDatabase();
        const string Prefix = "benchflow";
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = redis + ",name=bench-client", KeyPrefix = Prefix });
        await using WorkerProcess worker = WorkerProcess.Start(workerBin, redis, Prefix, FlowTasks.QueueName, concurrency, prefetch, trackStarted: false, db, log);
        await worker.WaitReadyAsync();
        Console.Error.WriteLine($"flow bench: N={n}, runs={runs}, round trips={trips}, worker concurrency={concurrency} prefetch={prefetch}");

        // Warm-up: both paths once, small.
        _ = await PlainAsync(client, 500);
        _ = await ChordAsync(client, 500);

        _ = await GroupStepAsync(client, 500, chains: false);
        _ = await GroupStepAsync(client, 500, chains: true);

        var plain = new List<double>();
        var chord = new List<double>();
        var steps = new List<double>();
        var chains = new List<double>();
        bool wrong = false;
        for (int run = 1; run <= runs; run++)
        {
            (double plainRate, bool plainOk) = await PlainAsync(client, n);
            (double chordRate, bool chordOk) = await ChordAsync(client, n);
            (double stepRate, bool stepOk) = await GroupStepAsync(client, n, chains: false);
            (double chainRate, bool chainOk) = await GroupStepAsync(client, n, chains: true);
            wrong |= !plainOk || !chordOk || !stepOk || !chainOk;
            plain.Add(plainRate);
            chord.Add(chordRate);
            steps.Add(stepRate);
            chains.Add(chainRate);
            Console.Error.WriteLine($"flow bench: run {run}: plain drain {plainRate:0} tasks/s, chord {chordRate:0} members/s ({chordRate / plainRate:P0}), group step {stepRate:0} tasks/s ({stepRate / plainRate:P0}), group step of 2-step chains {chainRate:0} tasks/s ({chainRate / plainRate:P0})");
        }

        double[] single = new double[trips];
        double[] chain = new double[trips];
        for (int i = 0; i < 30; i++)
        {
            _ = await (await FlowTasks.IncTask.DelayAsync(client, i)).GetAsync(TimeSpan.FromSeconds(10));
            _ = await (await Workflow.Chain(FlowTasks.IncTask.Sig(i), FlowTasks.IncTask.Then(), FlowTasks.IncTask.Then()).DelayAsync(client)).GetAsync(TimeSpan.FromSeconds(10));
        }

        for (int i = 0; i < trips; i++)
        {
            long s = Stopwatch.GetTimestamp();
            wrong |= await (await FlowTasks.IncTask.DelayAsync(client, i)).GetAsync(TimeSpan.FromSeconds(10)) != i + 1;
            single[i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
            s = Stopwatch.GetTimestamp();
            wrong |= await (await Workflow.Chain(FlowTasks.IncTask.Sig(i), FlowTasks.IncTask.Then(), FlowTasks.IncTask.Then()).DelayAsync(client)).GetAsync(TimeSpan.FromSeconds(10)) != i + 3;
            chain[i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
        }

        Array.Sort(single);
        Array.Sort(chain);
        double plainMedian = BenchKit.Median(plain), chordMedian = BenchKit.Median(chord);
        double stepMedian = BenchKit.Median(steps), chainMedian = BenchKit.Median(chains);
        string OfPlain(double rate) => BenchKit.F(rate / plainMedian, "P0") + " of plain";
        string P50P99(double[] sorted) => $"{BenchKit.F(BenchKit.Percentile(sorted, 50), "0.000")} / {BenchKit.F(BenchKit.Percentile(sorted, 99), "0.000")} ms";
        BenchKit.PrintTable(
            null,
            [$"workflow bench ({Environment.ProcessorCount} cores, N = {n}, median of {runs})", "figure"],
            [
                ["plain drain: N no-op tasks, bulk send to last result", BenchKit.F(plainMedian, "0") + " tasks/s"],
                ["chord: N no-op members + sum callback, send to callback result", $"{BenchKit.F(chordMedian, "0")} members/s ({OfPlain(chordMedian)})"],
                ["chain into a group step of N members, then a sum: send to result", $"{BenchKit.F(stepMedian, "0")} tasks/s ({OfPlain(stepMedian)})"],
                ["chain into a group step of N/2 two-step chains, then a sum: send to result", $"{BenchKit.F(chainMedian, "0")} tasks/s ({OfPlain(chainMedian)})"],
                ["round trip, single task (p50 / p99)", P50P99(single)],
                ["round trip, 3-step chain (p50 / p99)", P50P99(chain)],
            ]);

        if (wrong)
        {
            Console.Error.WriteLine("flow bench: A RESULT WAS WRONG");
        }

        return wrong ? 1 : 0;
    }

    /// <summary>N no-op tasks sent in bulk; the rate from the send to the last one's result (the queue is FIFO).</summary>
    private static async Task<(double Rate, bool Ok)> PlainAsync(CeleriacClient client, int n)
    {
        var argsList = new FlowTasks.MemberTask.Args[n];
        for (int i = 0; i < n; i++)
        {
            argsList[i] = new FlowTasks.MemberTask.Args(i, 1);
        }

        long start = Stopwatch.GetTimestamp();
        string[] ids = await client.SendManyAsync(FlowTasks.MemberTask.Definition, argsList, null, CancellationToken.None);
        int last = await FlowTasks.MemberTask.Handle(client, ids[^1], FlowTasks.QueueName).GetAsync(TimeSpan.FromSeconds(120));
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (n / seconds, last == n);
    }

    /// <summary>A chord of N no-op members; the rate from the send to the callback's result.</summary>
    private static async Task<(double Rate, bool Ok)> ChordAsync(CeleriacClient client, int n)
    {
        TaskSignature<int>[] members = new TaskSignature<int>[n];
        for (int i = 0; i < n; i++)
        {
            members[i] = FlowTasks.MemberTask.Sig(i, 1);
        }

        long start = Stopwatch.GetTimestamp();
        TaskHandle<long> total = await Workflow.Chord(members, FlowTasks.SumTask.Then()).DelayAsync(client);
        long sum = await total.GetAsync(TimeSpan.FromSeconds(120));
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (n / seconds, sum == ((long)n * (n - 1) / 2) + n);
    }

    /// <summary>
    /// A chain into a group step and a sum, N tasks in the group step: N single members (<paramref name="chains"/> false),
    /// or N/2 member chains of two steps each; the rate (the group's tasks, the seed and the sum) from the send to the sum's result.
    /// </summary>
    private static async Task<(double Rate, bool Ok)> GroupStepAsync(CeleriacClient client, int n, bool chains)
    {
        int members = chains ? n / 2 : n;
        TaskGroupStep<int, int> group = chains
            ? Workflow.Group(Enumerable.Range(0, members).Select(i => Workflow.Chain(FlowTasks.MemberTask.Then(i), FlowTasks.IncTask.Then())))
            : Workflow.Group(Enumerable.Range(0, members).Select(i => FlowTasks.MemberTask.Then(i)));
        long start = Stopwatch.GetTimestamp();
        TaskHandle<long> total = await Workflow.Chain(FlowTasks.IncTask.Sig(0)).Then(group).Then(FlowTasks.SumTask.Then()).DelayAsync(client);
        long sum = await total.GetAsync(TimeSpan.FromSeconds(120));
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        long expected = ((long)members * (members - 1) / 2) + (members * (chains ? 2L : 1L)); // seed 1, + i, (+ 1)
        return (((chains ? members * 2 : members) + 2) / seconds, sum == expected);
    }
}
