extension JobContext {
    /// The context of the job running in the current task, if any.
    ///
    /// Workers and the inline provider bind it around every handler call, so code deep inside a handler can reach
    /// it; ``ConveyorClient`` uses it to give child jobs the parent's correlation id.
    @TaskLocal public static var current: JobContext?
}
