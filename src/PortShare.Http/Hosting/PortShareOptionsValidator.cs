using Microsoft.Extensions.Options;

namespace PortShare.Http.Hosting;

/// <summary>
/// Validates <see cref="PortShareOptions"/> when the host starts (<c>ValidateOnStart</c>) or the options are first used:
/// every problem is reported at once, each naming the setting, its value and how to fix it.
/// </summary>
internal sealed class PortShareOptionsValidator : IValidateOptions<PortShareOptions>
{
    public ValidateOptionsResult Validate(string? name, PortShareOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        _ = PortShareSettings.Resolve(options, errors, checkHost: true);
        if (errors.Count == 0)
        {
            return ValidateOptionsResult.Success;
        }

        if (!string.IsNullOrEmpty(name))
        {
            errors = errors.ConvertAll(e => $"{e} (options of HttpClient '{name}')");
        }

        return ValidateOptionsResult.Fail(errors);
    }
}
