<?php
/**
 * Keeps the service in step with the site: every publish, edit, unpublish (a post leaving `publish`:
 * draft, pending, private, trash), password and delete is sent to the admin API in the request that
 * made it, at its end (`shutdown`), one batch for all the posts the request changed. What could not be
 * delivered waits in a queue (the `relatedly_queue` option) that the WP-Cron event
 * `relatedly_deliver_queue` delivers. The event is due at once while anything waits, so every run of
 * wp-cron.php tries again and one run after the service is back delivers the whole queue; WP-Cron
 * paces the attempts (a page view spawns a run at most once a minute, a system cron as often as it
 * runs), and a service that does not answer costs one timeout per attempt, not one per post.
 *
 * Only post IDs are recorded: what is sent is decided when it is sent, from the post as it is then
 * (servable → its record is added or replaced; unpublished or gone → it is taken down), so the last
 * change always wins and a queued post is never sent stale.
 *
 * @package Relatedly
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Change capture, delivery and the retry queue.
 */
final class Relatedly_Sync {

	const QUEUE_OPTION      = 'relatedly_queue';
	const STATUS_OPTION     = 'relatedly_last_delivery';
	const GENERATION_OPTION = 'relatedly_generation';
	const CRON_HOOK         = 'relatedly_deliver_queue';

	/**
	 * Articles in one POST; the byte cap keeps a batch under the service's 1 MB request limit.
	 */
	const BATCH_ARTICLES = 100;
	const BATCH_BYTES    = 700000;

	/**
	 * Post IDs changed by this request, delivered at its end.
	 *
	 * @var array<int, true>
	 */
	private static $changed = array();

	/**
	 * Hooks the change capture and the cron event.
	 */
	public static function register(): void {
		add_action( 'transition_post_status', array( __CLASS__, 'on_transition' ), 10, 3 );
		add_action( 'wp_after_insert_post', array( __CLASS__, 'on_saved' ), 10, 4 );
		add_action( 'set_object_terms', array( __CLASS__, 'on_terms' ), 10, 1 );
		add_action( 'updated_post_meta', array( __CLASS__, 'on_meta' ), 10, 3 );
		add_action( 'added_post_meta', array( __CLASS__, 'on_meta' ), 10, 3 );
		add_action( 'deleted_post_meta', array( __CLASS__, 'on_meta' ), 10, 3 );
		add_action( 'before_delete_post', array( __CLASS__, 'on_delete' ), 10, 1 );
		add_action( self::CRON_HOOK, array( __CLASS__, 'deliver_queue' ) );
	}

	/**
	 * A status change into or out of `publish` (publish, unpublish, trash, untrash, scheduled going live).
	 *
	 * @param string  $new_status New status.
	 * @param string  $old_status Old status.
	 * @param WP_Post $post       The post.
	 */
	public static function on_transition( $new_status, $old_status, $post ): void {
		if ( $post instanceof WP_Post && ( 'publish' === $new_status || 'publish' === $old_status ) ) {
			self::note( $post );
		}
	}

	/**
	 * A save, after its terms and meta are written (edits of a published post; the block editor
	 * sets terms after inserting the post, so this and not `save_post` sees the final state).
	 *
	 * @param int          $post_id     Post ID.
	 * @param WP_Post      $post        The post.
	 * @param bool         $update      Whether an existing post was updated.
	 * @param WP_Post|null $post_before The post before the save.
	 */
	public static function on_saved( $post_id, $post, $update, $post_before ): void {
		$was_published = $post_before instanceof WP_Post && 'publish' === $post_before->post_status;
		if ( $post instanceof WP_Post && ( 'publish' === $post->post_status || $was_published ) ) {
			self::note( $post );
		}
	}

	/**
	 * Terms set outside a save (quick edits, other plugins).
	 *
	 * @param int $object_id Object ID.
	 */
	public static function on_terms( $object_id ): void {
		$post = get_post( (int) $object_id );
		if ( $post instanceof WP_Post && 'publish' === $post->post_status ) {
			self::note( $post );
		}
	}

	/**
	 * The featured image changed outside a save.
	 *
	 * @param mixed  $meta_ids  Meta ID(s).
	 * @param int    $object_id Post ID.
	 * @param string $meta_key  Meta key.
	 */
	public static function on_meta( $meta_ids, $object_id, $meta_key ): void {
		if ( '_thumbnail_id' === $meta_key ) {
			self::on_terms( $object_id );
		}
	}

	/**
	 * A published post deleted without passing through the trash.
	 *
	 * @param int $post_id Post ID.
	 */
	public static function on_delete( $post_id ): void {
		$post = get_post( (int) $post_id );
		if ( $post instanceof WP_Post && 'publish' === $post->post_status ) {
			self::note( $post );
		}
	}

	/**
	 * Records a changed post of a handled type; the first change of a request arranges the delivery.
	 *
	 * @param WP_Post $post The post.
	 */
	private static function note( WP_Post $post ): void {
		if ( ! Relatedly_Article::handles( $post ) || wp_is_post_revision( $post ) || wp_is_post_autosave( $post ) ) {
			return;
		}
		if ( ! self::$changed ) {
			add_action( 'shutdown', array( __CLASS__, 'deliver_changed' ), 5 );
		}
		self::$changed[ (int) $post->ID ] = true;
	}

	/**
	 * End of a request that changed posts: deliver them now; queue what fails.
	 */
	public static function deliver_changed(): void {
		$ids           = array_keys( self::$changed );
		self::$changed = array();
		if ( ! Relatedly_Settings::can_push() ) {
			self::enqueue( $ids, 'the service URL or admin token is not configured' );
			return;
		}
		$outcome = self::deliver( $ids );
		self::enqueue( $outcome['failed'], $outcome['error'] );
		self::forget( $outcome['done'], null );
		if ( $outcome['done'] ) {
			self::schedule_if_waiting(); // The service answers: the next cron run delivers what waits.
		}
	}

	/**
	 * The WP-Cron event: deliver every queued post (in batches), keep what fails for a later attempt.
	 */
	public static function deliver_queue(): void {
		$queue = self::queue();
		if ( ! $queue ) {
			return;
		}
		if ( ! Relatedly_Settings::can_push() ) {
			return; // Saving the settings schedules the event again.
		}
		$outcome = self::deliver( array_keys( $queue ) );
		self::forget( $outcome['done'], $queue );
		self::enqueue( $outcome['failed'], $outcome['error'] );
	}

	/**
	 * Sends the current state of these posts: records of the servable ones, takedowns of the others.
	 * Once the service fails to answer (no connection, a timeout, a 5xx) the rest is not tried: it
	 * fails at once and waits in the queue with the rest, so a down service never holds a request
	 * for more than one timeout.
	 *
	 * @param int[] $ids Post IDs.
	 * @return array{done: int[], failed: int[], error: string}
	 */
	public static function deliver( array $ids ): array {
		$upserts  = array();
		$removals = array();
		foreach ( $ids as $id ) {
			$post = get_post( (int) $id );
			if ( $post instanceof WP_Post && Relatedly_Article::is_servable( $post ) ) {
				$upserts[ (int) $id ] = Relatedly_Article::record( $post );
			} else {
				$removals[] = (int) $id;
			}
		}
		$result = array(
			'done'   => array(),
			'failed' => array(),
			'errors' => array(),
			'down'   => false,
		);
		foreach ( $removals as $id ) {
			if ( $result['down'] ) {
				$result['failed'][] = $id;
				continue;
			}
			$answer = Relatedly_Client::remove( Relatedly_Article::id( $id ) );
			if ( self::accepted( $answer ) || 'article_not_found' === $answer->code ) { // Never had it: done too.
				$result['done'][] = $id;
			} else {
				$result = self::failed( $result, array( $id ), $answer );
			}
		}
		foreach ( self::batches( $upserts ) as $batch ) {
			if ( $result['down'] ) {
				$result['failed'] = array_merge( $result['failed'], array_keys( $batch ) );
				continue;
			}
			$result = self::send_batch( $batch, $result );
		}
		self::record_delivery( $result['done'], $result['errors'] );
		return array(
			'done'   => $result['done'],
			'failed' => $result['failed'],
			'error'  => implode( '; ', array_slice( $result['errors'], 0, 5 ) ),
		);
	}

	/**
	 * POSTs one batch. A 400 names a record the service will never take: the batch is sent again one
	 * by one, and a record refused alone is dropped with its reason kept (retrying cannot help).
	 *
	 * @param array<int, array> $batch  Records by post ID.
	 * @param array             $result The delivery so far (done, failed, errors, down).
	 * @return array The delivery with this batch.
	 */
	private static function send_batch( array $batch, array $result ): array {
		$answer = Relatedly_Client::upsert( $batch );
		$ids    = array_keys( $batch );
		if ( self::accepted( $answer ) ) {
			$refused = (array) ( $answer->json()['refused'] ?? array() );
			if ( $refused ) {
				$result['errors'][] = 'refused (taken down earlier on the service): post ' . implode( ', ', $refused );
			}
			$result['done'] = array_merge( $result['done'], $ids );
			return $result;
		}
		if ( 400 === $answer->status && count( $batch ) > 1 ) {
			foreach ( $batch as $id => $record ) {
				$result = $result['down'] ? self::failed( $result, array( $id ), null ) : self::send_batch( array( $id => $record ), $result );
			}
			return $result;
		}
		if ( 400 === $answer->status || 413 === $answer->status ) {
			$result['errors'][] = 'post ' . implode( ', ', $ids ) . ': ' . $answer->error . ' (not retried)';
			$result['done']     = array_merge( $result['done'], $ids );
			return $result;
		}
		return self::failed( $result, $ids, $answer );
	}

	/**
	 * Whether the service took the change: 200 when it published it within its wait, 202 when the
	 * publish runs on as a job (it will publish it; `GET /v1/admin/jobs/<id>` follows it).
	 *
	 * @param Relatedly_Response $answer The answer.
	 */
	private static function accepted( Relatedly_Response $answer ): bool {
		return 200 === $answer->status || 202 === $answer->status;
	}

	/**
	 * The delivery with these posts failed (to be retried); no answer or a 5xx means the service is down.
	 *
	 * @param array                   $result The delivery so far.
	 * @param int[]                   $ids    Post IDs.
	 * @param Relatedly_Response|null $answer The failed answer (null: not tried, the service is down).
	 */
	private static function failed( array $result, array $ids, ?Relatedly_Response $answer ): array {
		$result['failed'] = array_merge( $result['failed'], $ids );
		if ( null !== $answer ) {
			$result['errors'][] = 'post ' . implode( ', ', $ids ) . ': ' . $answer->error;
			$result['down']     = $result['down'] || 0 === $answer->status || $answer->status >= 500;
		}
		return $result;
	}

	/**
	 * Records in batches of at most BATCH_ARTICLES and about BATCH_BYTES of JSON.
	 *
	 * @param array<int, array> $records Records by post ID.
	 * @return array<int, array<int, array>>
	 */
	private static function batches( array $records ): array {
		$batches = array();
		$batch   = array();
		$bytes   = 0;
		foreach ( $records as $id => $record ) {
			$size = strlen( (string) wp_json_encode( $record ) );
			if ( $batch && ( count( $batch ) >= self::BATCH_ARTICLES || $bytes + $size > self::BATCH_BYTES ) ) {
				$batches[] = $batch;
				$batch     = array();
				$bytes     = 0;
			}
			$batch[ $id ] = $record;
			$bytes       += $size;
		}
		if ( $batch ) {
			$batches[] = $batch;
		}
		return $batches;
	}

	/**
	 * The queue: post ID → ['queued' => time, 'attempts' => n, 'error' => last error].
	 *
	 * @return array<int, array>
	 */
	public static function queue(): array {
		$queue = get_option( self::QUEUE_OPTION, array() );
		return is_array( $queue ) ? $queue : array();
	}

	/**
	 * Queues posts for the next cron run without trying them first (sending a whole archive).
	 *
	 * @param int[] $ids Post IDs.
	 */
	public static function queue_posts( array $ids ): void {
		$queue = self::queue();
		$now   = time();
		foreach ( $ids as $id ) {
			$queue[ (int) $id ] = array(
				'queued'   => $now,
				'attempts' => 0,
				'error'    => '',
			);
		}
		update_option( self::QUEUE_OPTION, $queue, false );
		if ( $queue ) {
			self::schedule();
		}
	}

	/**
	 * Puts posts in the queue (or counts one more failed attempt on their entry); the next cron run
	 * tries again.
	 *
	 * @param int[]  $ids   Post IDs.
	 * @param string $error Why they could not be delivered.
	 */
	private static function enqueue( array $ids, string $error ): void {
		if ( ! $ids ) {
			return;
		}
		$queue = self::queue();
		$now   = time();
		foreach ( $ids as $id ) {
			$entry              = $queue[ (int) $id ] ?? array( 'attempts' => 0 );
			$queue[ (int) $id ] = array(
				'queued'   => $now,
				'attempts' => (int) $entry['attempts'] + 1,
				'error'    => $error,
			);
		}
		update_option( self::QUEUE_OPTION, $queue, false );
		self::schedule();
		error_log( sprintf( 'relatedly: %d post(s) queued for a later delivery: %s', count( $ids ), $error ) ); // phpcs:ignore WordPress.PHP.DevelopmentFunctions
	}

	/**
	 * Removes delivered posts from the queue, except those queued again while they were being sent.
	 *
	 * @param int[]      $ids  Delivered post IDs.
	 * @param array|null $read The queue as read before sending (null: remove them whatever their entry).
	 */
	private static function forget( array $ids, ?array $read ): void {
		$queue  = self::queue();
		$before = count( $queue );
		foreach ( $ids as $id ) {
			if ( isset( $queue[ $id ] ) && ( null === $read || ( $read[ $id ] ?? null ) === $queue[ $id ] ) ) {
				unset( $queue[ $id ] );
			}
		}
		if ( count( $queue ) !== $before ) {
			update_option( self::QUEUE_OPTION, $queue, false );
		}
		if ( ! $queue && $before ) {
			self::unschedule();
		}
	}

	/**
	 * Makes the delivery event due now (an event already scheduled is due already).
	 */
	private static function schedule(): void {
		if ( false === wp_next_scheduled( self::CRON_HOOK ) ) {
			wp_schedule_single_event( time(), self::CRON_HOOK );
		}
	}

	/**
	 * A queue that waits without an event (the plugin was inactive or not configured) gets it back.
	 */
	public static function schedule_if_waiting(): void {
		if ( self::queue() ) {
			self::schedule();
		}
	}

	/**
	 * Deactivation, or nothing left to deliver: no event.
	 */
	public static function unschedule(): void {
		wp_clear_scheduled_hook( self::CRON_HOOK );
	}

	/**
	 * Keeps the last delivery's outcome for the settings page, and after a change that reached the
	 * service moves the rendered blocks' cache to a new generation (lists around the change moved).
	 *
	 * @param int[]    $done   Delivered post IDs.
	 * @param string[] $errors Problems.
	 */
	private static function record_delivery( array $done, array $errors ): void {
		if ( $done ) {
			update_option( self::GENERATION_OPTION, (string) microtime( true ) );
		}
		update_option(
			self::STATUS_OPTION,
			array(
				'time'      => time(),
				'delivered' => count( $done ),
				'errors'    => array_slice( $errors, 0, 5 ),
			),
			false
		);
	}
}
