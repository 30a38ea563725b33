using System.Diagnostics;
using System.Globalization;
using System.IO.Pipes;

namespace Celeriac.Supervision;

/// <summary>
/// One worker process a supervisor started, with the supervisor's ends of its two pipes (see <see cref="SupervisorLink"/>).
/// Its standard input, output and error are the supervisor's own: its log lines go where the supervisor's go.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    /// <summary>
    /// Serializes the starts: a pipe end made inheritable for one child exists in the supervisor only until that child
    /// has started, so no other child (started at the same time) inherits it and holds it open.
    /// </summary>
    private static readonly Lock StartGate = new();

    private readonly Process _process;
    private readonly AnonymousPipeServerStream _toChild;
    private readonly AnonymousPipeServerStream _fromChild;
    private readonly TaskCompletionSource<bool> _recycling = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _stopRequested;

    private ChildProcess(int index, Process process, AnonymousPipeServerStream toChild, AnonymousPipeServerStream fromChild, long startedAt)
    {
        Index = index;
        _process = process;
        _toChild = toChild;
        _fromChild = fromChild;
        StartedAt = startedAt;
        Pid = process.Id;
        Exited = process.WaitForExitAsync();
    }

    /// <summary>Its index among the supervisor's children, from 1 (a replacement takes its predecessor's).</summary>
    public int Index { get; }

    /// <summary>Its process id.</summary>
    public int Pid { get; }

    /// <summary>When it was started (a <see cref="TimeProvider"/> timestamp).</summary>
    public long StartedAt { get; }

    /// <summary>Completes when the process has exited.</summary>
    public Task Exited { get; }

    /// <summary>Completes with <see langword="true"/> when the child said it begins to recycle, <see langword="false"/> when its pipe ended without a word.</summary>
    public Task<bool> Recycling => _recycling.Task;

    /// <summary>The exit code, once <see cref="Exited"/> has completed (128 + the signal for a process killed by one).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Starts a child: <paramref name="command"/> with the index and the pipes in its environment.</summary>
    public static ChildProcess Start(ChildCommand command, int index, TimeProvider time)
    {
        var start = new ProcessStartInfo(command.FileName) { UseShellExecute = false };
        foreach (string argument in command.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        lock (StartGate)
        {
            var toChild = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.Inheritable);
            var fromChild = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
            try
            {
                start.Environment[ProcessRole.IndexVariable] = index.ToString(CultureInfo.InvariantCulture);
                start.Environment[ProcessRole.PipesVariable] = toChild.GetClientHandleAsString() + "," + fromChild.GetClientHandleAsString();
                var process = new Process { StartInfo = start };
                process.Start();
                // The child has its copies: the supervisor keeps only its own ends, so that an end of the stream means the
                // child's end closed.
                toChild.DisposeLocalCopyOfClientHandle();
                fromChild.DisposeLocalCopyOfClientHandle();
                var child = new ChildProcess(index, process, toChild, fromChild, time.GetTimestamp());
                child.ReadFromChild();
                return child;
            }
            catch
            {
                toChild.DisposeLocalCopyOfClientHandle();
                fromChild.DisposeLocalCopyOfClientHandle();
                toChild.Dispose();
                fromChild.Dispose();
                throw;
            }
        }
    }

    /// <summary>Asks the child to stop gracefully: closes the pipe it watches. Idempotent.</summary>
    public void RequestStop()
    {
        if (Interlocked.Exchange(ref _stopRequested, 1) == 0)
        {
            _toChild.Dispose();
        }
    }

    /// <summary>Kills the child and its own children (SIGKILL): for one that did not stop in time.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Exiting as we asked.
        }
    }

    public void Dispose()
    {
        RequestStop();
        _fromChild.Dispose();
        _process.Dispose();
    }

    /// <summary>Reads what the child says, on a thread of its own (the read blocks), until its end of the pipe closes.</summary>
    private void ReadFromChild()
    {
        var reader = new Thread(() =>
        {
            try
            {
                using var lines = new StreamReader(_fromChild, System.Text.Encoding.ASCII, detectEncodingFromByteOrderMarks: false, bufferSize: 64, leaveOpen: true);
                while (lines.ReadLine() is { } line)
                {
                    if (line == SupervisorLink.RecycleLine)
                    {
                        _recycling.TrySetResult(true);
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // A broken or disposed pipe ends the conversation as an end of stream does.
            }
            finally
            {
                _recycling.TrySetResult(false);
            }
        })
        {
            IsBackground = true,
            Name = "celeriac-child-" + Index.ToString(CultureInfo.InvariantCulture),
        };
        reader.Start();
    }
}
