using System.Globalization;
using System.IO.Pipes;

namespace Celeriac.Supervision;

/// <summary>
/// A child's side of the two anonymous pipes its supervisor made for it. From the supervisor: nothing is ever written;
/// its end closes when the supervisor stops, or when the kernel closes it because the supervisor died (SIGKILL
/// included), and the child then stops gracefully, so that no child outlives its supervisor. To the supervisor: one
/// line, <c>recycle</c>, when this child begins to recycle, so that its replacement starts while it drains.
/// </summary>
/// <remarks>
/// Plain pipes, not <c>prctl(PR_SET_PDEATHSIG)</c>: they need no native call, work alike under Native AOT, on Linux,
/// macOS and Windows, and the death signal would be sent when the supervisor's thread that started the child ends,
/// not only when the supervisor dies.
/// </remarks>
internal sealed class SupervisorLink
{
    /// <summary>What a child writes when it begins to recycle.</summary>
    internal const string RecycleLine = "recycle";

    private readonly AnonymousPipeClientStream _fromSupervisor;
    private readonly AnonymousPipeClientStream _toSupervisor;
    private readonly Lock _writeGate = new();

    private SupervisorLink(int index, AnonymousPipeClientStream fromSupervisor, AnonymousPipeClientStream toSupervisor)
    {
        Index = index;
        _fromSupervisor = fromSupervisor;
        _toSupervisor = toSupervisor;
    }

    /// <summary>This child's index among its supervisor's, from 1.</summary>
    public int Index { get; }

    /// <summary>The link passed in this process's environment, or <see langword="null"/> when no supervisor started it.</summary>
    internal static SupervisorLink? FromEnvironment()
    {
        string? pipes = Environment.GetEnvironmentVariable(ProcessRole.PipesVariable);
        if (string.IsNullOrEmpty(pipes))
        {
            return null;
        }

        Environment.SetEnvironmentVariable(ProcessRole.PipesVariable, null);
        string[] handles = pipes.Split(',');
        if (handles.Length != 2
            || !int.TryParse(Environment.GetEnvironmentVariable(ProcessRole.IndexVariable), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            throw new InvalidOperationException($"{ProcessRole.PipesVariable} is set to '{pipes}' with {ProcessRole.IndexVariable} '{Environment.GetEnvironmentVariable(ProcessRole.IndexVariable)}': only a Celeriac supervisor sets them, for its worker processes.");
        }

        return new SupervisorLink(index, new AnonymousPipeClientStream(PipeDirection.In, handles[0]), new AnonymousPipeClientStream(PipeDirection.Out, handles[1]));
    }

    /// <summary>Calls <paramref name="onGone"/> once the supervisor's end of the pipe closes (on a thread of its own, which blocks in the read).</summary>
    public void WatchSupervisor(Action onGone)
    {
        var watcher = new Thread(() =>
        {
            var buffer = new byte[64];
            try
            {
                while (_fromSupervisor.Read(buffer) > 0)
                {
                    // Nothing is sent this way; only the end of the stream means something.
                }
            }
            catch (IOException)
            {
                // A broken pipe is a closed one.
            }

            onGone();
        })
        {
            IsBackground = true,
            Name = "celeriac-supervisor-watch",
        };
        watcher.Start();
    }

    /// <summary>Tells the supervisor that this child begins to recycle: its replacement starts now. Never throws.</summary>
    public void Recycling()
    {
        lock (_writeGate)
        {
            try
            {
                _toSupervisor.Write(System.Text.Encoding.ASCII.GetBytes(RecycleLine + "\n"));
                _toSupervisor.Flush();
            }
            catch (IOException)
            {
                // The supervisor is gone: nobody to tell, and the pipe from it has closed too, which stops this child.
            }
        }
    }
}
