using Celeriac.Diagnostics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace OpenTelemetry;

/// <summary>
/// Subscribes OpenTelemetry to Celeriac's spans and metrics. Celeriac reports through <c>System.Diagnostics</c> only
/// (<see cref="CeleriacDiagnostics.ActivitySourceName"/>, <see cref="CeleriacDiagnostics.MeterName"/>); these
/// extensions add those names to the providers, nothing more: the same as <c>AddSource("Celeriac")</c> and
/// <c>AddMeter("Celeriac")</c>, spelled without the string.
/// </summary>
public static class CeleriacInstrumentationExtensions
{
    /// <summary>Adds Celeriac's producer (<c>send &lt;queue&gt;</c>) and consumer (<c>process &lt;queue&gt;</c>) spans.</summary>
    /// <param name="builder">The tracer provider builder.</param>
    /// <returns>The builder.</returns>
    public static TracerProviderBuilder AddCeleriacInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(CeleriacDiagnostics.ActivitySourceName);
    }

    /// <summary>Adds Celeriac's task counters, run-duration and queue-wait histograms and in-flight gauge.</summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The builder.</returns>
    public static MeterProviderBuilder AddCeleriacInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(CeleriacDiagnostics.MeterName);
    }
}
